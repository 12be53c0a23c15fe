// ObjectStore on PostgreSQL. An object's row (with its key) and its
// blob row (ciphertext) are written and deleted in one transaction, so neither ever exists
// without the other; sealing and opening happen outside transactions.
#include "store/item_rules.h"
#include "store/new_rows.h"
#include "store/postgres/pg_store.h"
#include "store/refusals.h"
#include "store/row_readers.h"

namespace bgerase::store::postgres {

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

}  // namespace bgerase::store::postgres
