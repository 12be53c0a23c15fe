// ConsentLedger on PostgreSQL: append-only rows (triggers refuse the rest); changes lock the
// account row FOR NO KEY UPDATE, and a withdrawal deletes the training objects in the same
// transaction as its ledger row.
#include "store/consent_rules.h"
#include "store/postgres/pg_store.h"
#include "store/refusals.h"
#include "store/row_readers.h"

namespace bgerase::store::postgres {

Result<ConsentState> PgConsentLedger::Grant(const AccountId& account,
                                            std::string_view policy_version, ConsentActor actor) {
  return PgGuard([&]() -> Result<ConsentState> {
    BGERASE_RETURN_IF_ERROR(CheckPolicyVersion(policy_version));
    return c_.pool->Run([&](pqxx::connection& conn) -> Result<ConsentState> {
      pqxx::work tx(conn);
      if (!LockAccount(tx, account, "FOR NO KEY UPDATE")) {
        return refusals::NoSuchAccount();
      }
      ConsentState cur = CurrentConsent(tx, account);
      if (cur.opted_in) return cur;
      AppendConsent(tx, account, true, policy_version, actor, c_.Now());
      ConsentState s = CurrentConsent(tx, account);
      tx.commit();
      return s;
    });
  });
}

Result<Withdrawal> PgConsentLedger::Withdraw(const AccountId& account,
                                             std::string_view policy_version, ConsentActor actor) {
  return PgGuard([&]() -> Result<Withdrawal> {
    BGERASE_RETURN_IF_ERROR(CheckPolicyVersion(policy_version));
    return c_.pool->Run([&](pqxx::connection& conn) -> Result<Withdrawal> {
      pqxx::work tx(conn);
      // The row lock waits for training inserts in flight (they hold FOR SHARE) and holds off
      // new ones until the ledger row and the deletions below have committed.
      if (!LockAccount(tx, account, "FOR NO KEY UPDATE")) {
        return refusals::NoSuchAccount();
      }
      Withdrawal w;
      ConsentState cur = CurrentConsent(tx, account);
      if (!cur.opted_in) {
        w.state = cur;
        return w;
      }
      const Time now = c_.Now();
      AppendConsent(tx, account, false, policy_version, actor, now);
      // Same transaction as the ledger row: either both happen or neither.
      w.training_objects_deleted = DeleteObjects(tx, DeletionReason::kConsentWithdrawn, now,
                                                 "owner = $3 AND purpose = 'training'", account);
      w.state = CurrentConsent(tx, account);
      tx.commit();
      return w;
    });
  });
}

Result<ConsentState> PgConsentLedger::Current(const AccountId& account) {
  return PgGuard([&]() -> Result<ConsentState> {
    return c_.pool->Run([&](pqxx::connection& conn) -> Result<ConsentState> {
      pqxx::read_transaction tx(conn);
      if (!LockAccount(tx, account, "")) return refusals::NoSuchAccount();
      return CurrentConsent(tx, account);
    });
  });
}

Result<std::vector<ConsentEvent>> PgConsentLedger::History(const AccountId& account) {
  return PgGuard([&]() -> Result<std::vector<ConsentEvent>> {
    return c_.pool->Run([&](pqxx::connection& conn) {
      pqxx::read_transaction tx(conn);
      const auto r = tx.exec_params(std::string("SELECT ") + kConsentEventColumns +
                                        " FROM consent_events WHERE account_id = $1 ORDER BY id",
                                    account);
      std::vector<ConsentEvent> out;
      for (const auto& row : r) {
        out.push_back(ReadConsentEvent(PgRow(row), account));
      }
      return out;
    });
  });
}

}  // namespace bgerase::store::postgres
