// ConsentLedger on SQLite: append-only rows (triggers refuse the rest); a withdrawal deletes the
// training objects in the same transaction as its ledger row.
#include "store/consent_rules.h"
#include "store/refusals.h"
#include "store/row_readers.h"
#include "store/sqlite/sqlite_store.h"

namespace bgerase::store::sqlite {

Result<ConsentState> SqliteConsentLedger::Grant(const AccountId& account,
                                                std::string_view policy_version,
                                                ConsentActor actor) {
  return Guard([&]() -> Result<ConsentState> {
    BGERASE_RETURN_IF_ERROR(CheckPolicyVersion(policy_version));
    std::lock_guard lock(c_.db->mutex());
    Transaction tx(*c_.db);
    if (!c_.AccountExistsLocked(account)) return refusals::NoSuchAccount();
    ConsentState cur = c_.CurrentConsentLocked(account);
    if (cur.opted_in) return cur;
    auto ins = c_.db->Prepare(
        "INSERT INTO consent_events (account_id, action, policy_version, actor, at) "
        "VALUES (?1, 'grant', ?2, ?3, ?4)");
    ins.Bind(1, account)
        .Bind(2, policy_version)
        .Bind(3, ToString(actor))
        .Bind(4, ToMillis(c_.Now()));
    ins.Run();
    ConsentState s = c_.CurrentConsentLocked(account);
    tx.Commit();
    return s;
  });
}

Result<Withdrawal> SqliteConsentLedger::Withdraw(const AccountId& account,
                                                 std::string_view policy_version,
                                                 ConsentActor actor) {
  return Guard([&]() -> Result<Withdrawal> {
    BGERASE_RETURN_IF_ERROR(CheckPolicyVersion(policy_version));
    std::unique_lock lock(c_.db->mutex());
    Withdrawal w;
    std::vector<ObjectId> deleted;
    {
      Transaction tx(*c_.db);
      if (!c_.AccountExistsLocked(account)) return refusals::NoSuchAccount();
      ConsentState cur = c_.CurrentConsentLocked(account);
      if (!cur.opted_in) {
        w.state = cur;
        return w;
      }
      auto ins = c_.db->Prepare(
          "INSERT INTO consent_events (account_id, action, policy_version, actor, at) "
          "VALUES (?1, 'withdraw', ?2, ?3, ?4)");
      ins.Bind(1, account).Bind(2, policy_version).Bind(3, ToString(actor));
      ins.Bind(4, ToMillis(c_.Now()));
      ins.Run();
      // Same transaction as the ledger row: either both happen or neither.
      deleted = c_.DeleteObjectsLocked(
          "owner = ?1 AND purpose = 'training'", [&](Statement& q) { q.Bind(1, account); },
          DeletionReason::kConsentWithdrawn);
      w.state = c_.CurrentConsentLocked(account);
      tx.Commit();
    }
    lock.unlock();
    c_.FinishDeletion(deleted);
    w.training_objects_deleted = deleted.size();
    return w;
  });
}

Result<ConsentState> SqliteConsentLedger::Current(const AccountId& account) {
  return Guard([&]() -> Result<ConsentState> {
    std::lock_guard lock(c_.db->mutex());
    if (!c_.AccountExistsLocked(account)) return refusals::NoSuchAccount();
    return c_.CurrentConsentLocked(account);
  });
}

Result<std::vector<ConsentEvent>> SqliteConsentLedger::History(const AccountId& account) {
  return Guard([&]() -> Result<std::vector<ConsentEvent>> {
    std::lock_guard lock(c_.db->mutex());
    auto q = c_.db->Prepare(std::string("SELECT ") + kConsentEventColumns +
                            " FROM consent_events WHERE account_id = ?1 ORDER BY id");
    q.Bind(1, account);
    std::vector<ConsentEvent> out;
    while (q.Step()) {
      out.push_back(ReadConsentEvent(q, account));
    }
    return out;
  });
}

}  // namespace bgerase::store::sqlite
