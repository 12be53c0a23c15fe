// Objects, the training pool and data rights on PostgreSQL. An object's row (with its key) and its
// blob row (ciphertext) are written and deleted in one transaction, so neither ever exists
// without the other; sealing and opening happen outside transactions.
#include <algorithm>

#include "store/consent_rules.h"
#include "store/exports.h"
#include "store/item_rules.h"
#include "store/new_rows.h"
#include "store/postgres/pg_store.h"
#include "store/row_readers.h"

namespace bgerase::store::postgres {
namespace {

namespace fs = std::filesystem;

// Inserts the object's row and its blob row.
void InsertObject(pqxx::transaction_base& tx, const ObjectInfo& o, const ObjectKey& key,
                  const Bytes& sealed) {
  std::optional<std::int64_t> expires;
  if (o.expires_at) expires = ToMillis(*o.expires_at);
  tx.exec_params(
      "INSERT INTO objects (id, owner, item_id, kind, purpose, on_behalf_of, mime, size, "
      "created_at, expires_at, consent_event_id, object_key) "
      "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
      o.id, o.owner, o.item_id, std::string(ToString(o.kind)), std::string(ToString(o.purpose)),
      o.on_behalf_of, o.mime, static_cast<std::int64_t>(o.size), ToMillis(o.created_at), expires,
      o.consent_event_id, ToBinary(ByteView(key.data(), key.size())));
  tx.exec_params("INSERT INTO blobs (object_id, data) VALUES ($1, $2)", o.id, ToBinary(sealed));
}

// The object's ciphertext, opened with its key; "not_found" when the blob row is gone (the
// object was deleted since its key was read).
Result<Bytes> ReadBlob(Core& c, const KeyedObject& p) {
  std::optional<Bytes> sealed = c.pool->Run([&](pqxx::connection& conn) {
    pqxx::read_transaction tx(conn);
    const auto r = tx.exec_params("SELECT data FROM blobs WHERE object_id = $1", p.info.id);
    return r.empty() ? std::optional<Bytes>() : std::optional<Bytes>(PgRow(r[0]).Blob(0));
  });
  if (!sealed) return refusals::NoSuchObject();
  return OpenBlob(p.key, p.info.id, *sealed);
}

}  // namespace

// ---- Objects ----------------------------------------------------------------------------------

Result<ObjectInfo> PgObjects::Put(const NewObject& object) {
  return PgGuard([&]() -> Result<ObjectInfo> {
    auto pending = NewProcessingObject(object);
    if (!pending.ok()) return pending.status();
    ObjectInfo& o = pending->info;
    ObjectKey& key = pending->key;
    const Bytes sealed = SealBlob(key, o.id, object.bytes);
    // Wipes the key however the transaction ends.
    struct Wipe {
      ObjectKey& key;
      ~Wipe() { WipeKey(key); }
    } wipe{key};
    Status st = c_.pool->Run([&](pqxx::connection& conn) -> Status {
      pqxx::work tx(conn);
      if (!LockAccount(tx, o.owner, "FOR KEY SHARE")) {
        return refusals::NoSuchAccount();
      }
      o.created_at = c_.Now();
      o.expires_at = c_.retention.ExpiryFor(o.created_at);
      if (!object.item_id.empty()) {
        ItemFacts item;
        item.other_owner =
            !tx.exec_params("SELECT 1 FROM objects WHERE item_id = $1 AND owner <> $2 LIMIT 1",
                            o.item_id, o.owner)
                 .empty();
        const auto live = tx.exec_params(
            "SELECT count(*), min(expires_at) FROM objects WHERE item_id = $1 AND owner = $2 "
            "AND purpose = 'processing' AND expires_at > $3",
            o.item_id, o.owner, ToMillis(o.created_at));
        const PgRow facts(live[0]);
        item.live_objects = facts.Int(0);
        if (auto earliest = facts.OptInt(1)) item.earliest_expiry = FromMillis(*earliest);
        auto joined = CheckItemJoin(item, *o.expires_at);
        if (!joined.ok()) return joined.status();
        o.expires_at = *joined;
      }
      InsertObject(tx, o, key, sealed);
      tx.commit();
      return Status::Ok();
    });
    if (!st.ok()) return st;
    if (c_.on_new_expiry) c_.on_new_expiry(*o.expires_at);
    return o;
  });
}

Result<StoredObject> PgObjects::Get(const AccountId& owner, const ObjectId& id) {
  return PgGuard([&]() -> Result<StoredObject> {
    StoredObject out;
    ObjectKey key{};
    Bytes sealed;
    Status st = c_.pool->Run([&](pqxx::connection& conn) -> Status {
      pqxx::read_transaction tx(conn);
      // Row, key and ciphertext in one snapshot: a concurrent delete either happened before it
      // (not found) or after (the exact bytes).
      const auto r = tx.exec_params(
          std::string("SELECT o.") + kObjectInfoColumns +
              ", o.object_key, b.data FROM objects o JOIN blobs b ON b.object_id = o.id "
              "WHERE o.id = $1 AND o.owner = $2 AND o.purpose = 'processing' AND "
              "o.expires_at > $3",
          id, owner, ToMillis(c_.Now()));
      if (r.empty()) return refusals::NoSuchObject();
      const PgRow row(r[0]);
      out.info = ReadObjectInfo(row);
      key = ReadObjectKey(row);
      sealed = row.Blob(kObjectKeyColumn + 1);
      return Status::Ok();
    });
    if (!st.ok()) return st;
    auto bytes = OpenBlob(key, id, sealed);
    WipeKey(key);
    if (!bytes.ok()) return bytes.status();
    out.bytes = std::move(bytes.value());
    return out;
  });
}

Status PgObjects::Delete(const AccountId& owner, const ObjectId& id) {
  return PgGuard([&]() -> Status {
    const std::size_t deleted = c_.pool->Run([&](pqxx::connection& conn) {
      pqxx::work tx(conn);
      const Time now = c_.Now();
      const std::size_t n =
          DeleteObjects(tx, DeletionReason::kOwnerRequest, now,
                        "id = $3 AND owner = $4 AND (expires_at IS NULL OR expires_at > $5)", id,
                        owner, ToMillis(now));
      tx.commit();
      return n;
    });
    if (deleted == 0) return refusals::NoSuchObject();
    return Status::Ok();
  });
}

// ---- Training pool ----------------------------------------------------------------------------

Result<TrainingItemInfo> PgTrainingPool::AddItem(const NewTrainingItem& item) {
  return PgGuard([&]() -> Result<TrainingItemInfo> {
    auto made = NewTrainingObjects(item);
    if (!made.ok()) return made.status();
    std::vector<PendingObject>& pending = made.value();
    struct Wipe {
      std::vector<PendingObject>& pending;
      ~Wipe() {
        for (PendingObject& p : pending) WipeKey(p.key);
      }
    } wipe{pending};
    std::vector<Bytes> sealed;
    for (const PendingObject& p : pending) sealed.push_back(SealBlob(p.key, p.info.id, p.bytes));
    Status st = c_.pool->Run([&](pqxx::connection& conn) -> Status {
      pqxx::work tx(conn);
      // FOR SHARE waits for a withdrawal in flight; checked here for a clear error, and again by
      // the objects_training_needs_consent trigger.
      LockAccount(tx, item.owner, "FOR SHARE");
      BGERASE_RETURN_IF_ERROR(
          CheckTrainingConsent(CurrentConsent(tx, item.owner), item.consent_event_id));
      const Time now = c_.Now();
      for (std::size_t i = 0; i < pending.size(); ++i) {
        pending[i].info.created_at = now;
        InsertObject(tx, pending[i].info, pending[i].key, sealed[i]);
      }
      tx.commit();
      return Status::Ok();
    });
    if (!st.ok()) return st;
    return TrainingItemOf(pending);
  });
}

Result<DatasetExportReport> PgTrainingPool::ExportDataset(
    const fs::path& dir, const std::function<void(const ItemId&)>& after_item) {
  return PgGuard([&]() -> Result<DatasetExportReport> {
    DatasetSource source;
    source.items = [&] {
      return c_.pool->Run([&](pqxx::connection& conn) {
        pqxx::read_transaction tx(conn);
        std::vector<ItemId> items;
        for (const auto& row :
             tx.exec("SELECT item_id FROM objects WHERE purpose = 'training' GROUP BY item_id "
                     "ORDER BY min(created_at), item_id")) {
          items.push_back(row[0].as<std::string>());
        }
        return items;
      });
    };
    source.parts = [&](const ItemId& item) {
      return c_.pool->Run([&](pqxx::connection& conn) {
        pqxx::read_transaction tx(conn);
        TrainingItemParts parts;
        for (const auto& row :
             tx.exec_params(std::string("SELECT ") + kObjectInfoColumns +
                                ", object_key FROM objects WHERE item_id = $1 AND "
                                "purpose = 'training' ORDER BY kind",
                            item)) {
          parts.objects.push_back(ReadKeyedObject(PgRow(row)));
        }
        if (!parts.objects.empty()) {
          parts.owner_consent = CurrentConsent(tx, parts.objects[0].info.owner);
        }
        return parts;
      });
    };
    source.read = [&](const KeyedObject& p) { return ReadBlob(c_, p); };
    return ExportDatasetTo(dir, after_item, source);
  });
}

// ---- Data rights ------------------------------------------------------------------------------

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
