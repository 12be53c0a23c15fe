// ObjectStore on SQLite + the blob folder.
// Ordering that keeps crashes harmless: a blob is written before its row commits (a crash leaves
// an orphan blob without a key, swept later) and unlinked after its row is deleted (a crash leaves
// the same). A row never points at a blob that was not fully written.
#include "store/item_rules.h"
#include "store/new_rows.h"
#include "store/refusals.h"
#include "store/row_readers.h"
#include "store/sqlite/sqlite_store.h"

namespace bgerase::store::sqlite {

Result<ObjectInfo> SqliteObjects::Put(const NewObject& object) {
  return Guard([&]() -> Result<ObjectInfo> {
    auto pending = NewProcessingObject(object);
    if (!pending.ok()) return pending.status();
    ObjectInfo& o = pending->info;
    ObjectKey& key = pending->key;
    Status written = c_.blobs.Write(o.id, key, object.bytes);
    if (!written.ok()) {
      WipeKey(key);
      return written;
    }
    try {
      std::lock_guard lock(c_.db->mutex());
      Transaction tx(*c_.db);
      if (!c_.AccountExistsLocked(o.owner)) {
        throw DbError(refusals::NoSuchAccount());
      }
      // Creation time and expiry are taken inside the lock so that expiry order follows commit
      // order, which the reaper's "next expiry" relies on.
      o.created_at = c_.Now();
      o.expires_at = c_.retention.ExpiryFor(o.created_at);
      if (!object.item_id.empty()) {
        ItemFacts item;
        auto other = c_.db->Prepare("SELECT 1 FROM objects WHERE item_id = ?1 AND owner != ?2");
        other.Bind(1, o.item_id).Bind(2, o.owner);
        item.other_owner = other.Step();
        auto live = c_.db->Prepare(
            "SELECT count(*), min(expires_at) FROM objects WHERE item_id = ?1 AND owner = ?2 "
            "AND purpose = 'processing' AND expires_at > ?3");
        live.Bind(1, o.item_id).Bind(2, o.owner).Bind(3, ToMillis(o.created_at));
        live.Step();
        item.live_objects = live.Int(0);
        if (!live.IsNull(1)) item.earliest_expiry = FromMillis(live.Int(1));
        auto joined = CheckItemJoin(item, *o.expires_at);
        if (!joined.ok()) throw DbError(joined.status());
        o.expires_at = *joined;
      }
      c_.InsertObjectLocked(o, key);
      tx.Commit();
    } catch (...) {
      WipeKey(key);
      c_.blobs.Remove(o.id);
      throw;
    }
    WipeKey(key);
    if (c_.on_new_expiry) c_.on_new_expiry(*o.expires_at);
    return o;
  });
}

Result<StoredObject> SqliteObjects::Get(const AccountId& owner, const ObjectId& id) {
  return Guard([&]() -> Result<StoredObject> {
    StoredObject out;
    ObjectKey key{};
    {
      std::lock_guard lock(c_.db->mutex());
      auto q = c_.db->Prepare(std::string("SELECT ") + kObjectInfoColumns +
                              ", object_key FROM objects WHERE id = ?1 AND owner = ?2 AND "
                              "purpose = 'processing' AND expires_at > ?3");
      q.Bind(1, id).Bind(2, owner).Bind(3, ToMillis(c_.Now()));
      if (!q.Step()) return refusals::NoSuchObject();
      out.info = ReadObjectInfo(q);
      key = ReadObjectKey(q);
    }
    // Read outside the lock: large objects must not stall every other request. If the object is
    // deleted meanwhile its file is gone and the answer is not_found, as if we had been later.
    auto bytes = c_.blobs.Read(id, key);
    WipeKey(key);
    if (!bytes.ok()) return bytes.status();
    out.bytes = std::move(bytes.value());
    return out;
  });
}

Status SqliteObjects::Delete(const AccountId& owner, const ObjectId& id) {
  return Guard([&]() -> Status {
    std::vector<ObjectId> deleted;
    std::unique_lock lock(c_.db->mutex());
    {
      Transaction tx(*c_.db);
      const std::int64_t now = ToMillis(c_.Now());
      deleted = c_.DeleteObjectsLocked(
          "id = ?1 AND owner = ?2 AND (expires_at IS NULL OR expires_at > ?3)",
          [&](Statement& q) { q.Bind(1, id).Bind(2, owner).Bind(3, now); },
          DeletionReason::kOwnerRequest);
      tx.Commit();
    }
    lock.unlock();
    c_.FinishDeletion(deleted);
    if (deleted.empty()) return refusals::NoSuchObject();
    return Status::Ok();
  });
}

}  // namespace bgerase::store::sqlite
