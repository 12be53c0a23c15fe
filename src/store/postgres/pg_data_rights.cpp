// DataRights on PostgreSQL: listing, export (one snapshot of the metadata), and deletions in one
// transaction each, ciphertext rows included.
#include "store/consent_rules.h"
#include "store/exports.h"
#include "store/postgres/pg_store.h"
#include "store/refusals.h"
#include "store/row_readers.h"

namespace bgerase::store::postgres {

namespace {

constexpr const char* kHeldWhere =
    " FROM objects WHERE owner = $1 AND (expires_at IS NULL OR expires_at > $2) "
    "ORDER BY created_at, item_id, kind";

}  // namespace

Result<std::vector<ObjectInfo>> PgDataRights::ListHeldData(const AccountId& account) {
  return PgGuard([&]() -> Result<std::vector<ObjectInfo>> {
    return c_.pool->Run([&](pqxx::connection& conn) -> Result<std::vector<ObjectInfo>> {
      pqxx::read_transaction tx(conn);
      if (!LockAccount(tx, account, "")) return refusals::NoSuchAccount();
      std::vector<ObjectInfo> out;
      for (const auto& row :
           tx.exec_params(std::string("SELECT ") + kObjectInfoColumns + kHeldWhere, account,
                          ToMillis(c_.Now()))) {
        out.push_back(ReadObjectInfo(PgRow(row)));
      }
      return out;
    });
  });
}

Result<std::size_t> PgDataRights::DeleteAllData(const AccountId& account) {
  return PgGuard([&]() -> Result<std::size_t> {
    return c_.pool->Run([&](pqxx::connection& conn) -> Result<std::size_t> {
      pqxx::work tx(conn);
      if (!LockAccount(tx, account, "FOR KEY SHARE")) {
        return refusals::NoSuchAccount();
      }
      const std::size_t n =
          DeleteObjects(tx, DeletionReason::kOwnerRequest, c_.Now(), "owner = $3", account);
      // Jobs only point at objects; without them they are empty shells of the same data.
      tx.exec_params("DELETE FROM jobs WHERE owner = $1", account);
      tx.commit();
      return n;
    });
  });
}

Result<std::size_t> PgDataRights::DeleteItem(const AccountId& account, const ItemId& item) {
  return PgGuard([&]() -> Result<std::size_t> {
    return c_.pool->Run([&](pqxx::connection& conn) -> Result<std::size_t> {
      pqxx::work tx(conn);
      const Time now = c_.Now();
      // One statement deletes the item's rows, keys and ciphertext, and logs each.
      const std::size_t n =
          DeleteObjects(tx, DeletionReason::kOwnerRequest, now,
                        "owner = $3 AND item_id = $4 AND (expires_at IS NULL OR expires_at > $5)",
                        account, item, ToMillis(now));
      if (n == 0) return refusals::NoSuchItem();
      tx.commit();
      return n;
    });
  });
}

Status PgDataRights::ExportZip(const AccountId& account, std::ostream& out) {
  return PgGuard([&]() -> Status {
    AccountExport data;
    const Time now = c_.Now();
    Status st = c_.pool->Run([&](pqxx::connection& conn) -> Status {
      // One snapshot for the account, its history, its keys and its objects' metadata.
      pqxx::transaction<pqxx::repeatable_read, pqxx::read_only> tx(conn);
      const auto a =
          tx.exec_params("SELECT id, email, created_at FROM accounts WHERE id = $1", account);
      if (a.empty()) return refusals::NoSuchAccount();
      const PgRow row(a[0]);
      data.id = row.Text(0);
      data.email = row.Text(1);
      data.created_at = FromMillis(row.Int(2));
      for (const auto& row :
           tx.exec_params(std::string("SELECT ") + kObjectInfoColumns + ", object_key" + kHeldWhere,
                          account, ToMillis(now))) {
        data.objects.push_back(ReadKeyedObject(PgRow(row)));
      }
      return Status::Ok();
    });
    if (!st.ok()) return st;
    PgConsentLedger ledger(c_);
    PgApiKeys keys(c_);
    return ExportAccountZip(
        data, ledger, keys, now, [&](const KeyedObject& p) { return ReadBlob(c_, p); }, out);
  });
}

Status PgDataRights::DeleteAccount(const AccountId& account, ConsentActor actor) {
  return PgGuard([&]() -> Status {
    return c_.pool->Run([&](pqxx::connection& conn) -> Status {
      pqxx::work tx(conn);
      if (!LockAccount(tx, account, "FOR UPDATE")) {
        return refusals::NoSuchAccount();
      }
      const Time now = c_.Now();
      if (auto version = WithdrawalImpliedByDeletion(CurrentConsent(tx, account))) {
        AppendConsent(tx, account, false, *version, actor, now);
      }
      DeleteObjects(tx, DeletionReason::kAccountDeleted, now, "owner = $3", account);
      for (const AccountRows& rows : kAccountRows) {
        tx.exec_params(
            std::string("DELETE FROM ") + rows.table + " WHERE " + rows.account_column + " = $1",
            account);
      }
      tx.commit();
      return Status::Ok();
    });
  });
}

}  // namespace bgerase::store::postgres
