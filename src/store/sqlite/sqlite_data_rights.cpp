// DataRights on SQLite + the blob folder: listing, export, and deletions in one transaction each,
// whose blobs are unlinked after commit.
#include "store/consent_rules.h"
#include "store/exports.h"
#include "store/refusals.h"
#include "store/row_readers.h"
#include "store/sqlite/sqlite_store.h"

namespace bgerase::store::sqlite {

Result<std::vector<ObjectInfo>> SqliteDataRights::ListHeldData(const AccountId& account) {
  return Guard([&]() -> Result<std::vector<ObjectInfo>> {
    std::lock_guard lock(c_.db->mutex());
    if (!c_.AccountExistsLocked(account)) return refusals::NoSuchAccount();
    auto q = c_.db->Prepare(std::string("SELECT ") + kObjectInfoColumns +
                            " FROM objects WHERE owner = ?1 AND (expires_at IS NULL OR "
                            "expires_at > ?2) ORDER BY created_at, item_id, kind");
    q.Bind(1, account).Bind(2, ToMillis(c_.Now()));
    std::vector<ObjectInfo> out;
    while (q.Step()) out.push_back(ReadObjectInfo(q));
    return out;
  });
}

Result<std::size_t> SqliteDataRights::DeleteAllData(const AccountId& account) {
  return Guard([&]() -> Result<std::size_t> {
    std::vector<ObjectId> deleted;
    std::unique_lock lock(c_.db->mutex());
    {
      Transaction tx(*c_.db);
      if (!c_.AccountExistsLocked(account)) return refusals::NoSuchAccount();
      deleted = c_.DeleteObjectsLocked(
          "owner = ?1", [&](Statement& q) { q.Bind(1, account); }, DeletionReason::kOwnerRequest);
      // Jobs only point at objects; without them they are empty shells of the same data.
      auto jobs = c_.db->Prepare("DELETE FROM jobs WHERE owner = ?1");
      jobs.Bind(1, account).Run();
      tx.Commit();
    }
    lock.unlock();
    c_.FinishDeletion(deleted);
    return deleted.size();
  });
}

Result<std::size_t> SqliteDataRights::DeleteItem(const AccountId& account, const ItemId& item) {
  return Guard([&]() -> Result<std::size_t> {
    std::vector<ObjectId> deleted;
    std::unique_lock lock(c_.db->mutex());
    {
      Transaction tx(*c_.db);
      const std::int64_t now = ToMillis(c_.Now());
      deleted = c_.DeleteObjectsLocked(
          "owner = ?1 AND item_id = ?2 AND (expires_at IS NULL OR expires_at > ?3)",
          [&](Statement& q) { q.Bind(1, account).Bind(2, item).Bind(3, now); },
          DeletionReason::kOwnerRequest);
      if (deleted.empty()) return refusals::NoSuchItem();
      tx.Commit();
    }
    lock.unlock();
    c_.FinishDeletion(deleted);
    return deleted.size();
  });
}

Status SqliteDataRights::ExportZip(const AccountId& account, std::ostream& out) {
  return Guard([&]() -> Status {
    AccountExport data;
    const Time now = c_.Now();
    {
      std::lock_guard lock(c_.db->mutex());
      auto a = c_.db->Prepare("SELECT id, email, created_at FROM accounts WHERE id = ?1");
      a.Bind(1, account);
      if (!a.Step()) return refusals::NoSuchAccount();
      data.id = a.Text(0);
      data.email = a.Text(1);
      data.created_at = FromMillis(a.Int(2));
    }
    {
      std::lock_guard lock(c_.db->mutex());
      auto q = c_.db->Prepare(std::string("SELECT ") + kObjectInfoColumns +
                              ", object_key FROM objects WHERE owner = ?1 AND (expires_at IS NULL "
                              "OR expires_at > ?2) ORDER BY created_at, item_id, kind");
      q.Bind(1, account).Bind(2, ToMillis(now));
      while (q.Step()) data.objects.push_back(ReadKeyedObject(q));
    }
    SqliteConsentLedger ledger(c_);
    SqliteApiKeys keys(c_);
    return ExportAccountZip(
        data, ledger, keys, now,
        [&](const KeyedObject& p) { return c_.blobs.Read(p.info.id, p.key); }, out);
  });
}

Status SqliteDataRights::DeleteAccount(const AccountId& account, ConsentActor actor) {
  return Guard([&]() -> Status {
    std::vector<ObjectId> deleted;
    std::unique_lock lock(c_.db->mutex());
    {
      Transaction tx(*c_.db);
      if (!c_.AccountExistsLocked(account)) return refusals::NoSuchAccount();
      if (auto version = WithdrawalImpliedByDeletion(c_.CurrentConsentLocked(account))) {
        auto ins = c_.db->Prepare(
            "INSERT INTO consent_events (account_id, action, policy_version, actor, at) "
            "VALUES (?1, 'withdraw', ?2, ?3, ?4)");
        ins.Bind(1, account).Bind(2, *version).Bind(3, ToString(actor));
        ins.Bind(4, ToMillis(c_.Now()));
        ins.Run();
      }
      deleted = c_.DeleteObjectsLocked(
          "owner = ?1", [&](Statement& q) { q.Bind(1, account); }, DeletionReason::kAccountDeleted);
      for (const AccountRows& rows : kAccountRows) {
        auto del = c_.db->Prepare(std::string("DELETE FROM ") + rows.table + " WHERE " +
                                  rows.account_column + " = ?1");
        del.Bind(1, account).Run();
      }
      tx.Commit();
    }
    lock.unlock();
    // Checkpoint even without objects: the email and key hashes went too.
    c_.FinishDeletion(deleted, /*checkpoint=*/true);
    return Status::Ok();
  });
}

}  // namespace bgerase::store::sqlite
