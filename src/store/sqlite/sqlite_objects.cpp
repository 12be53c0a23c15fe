// Objects, the training pool and data rights on SQLite + the blob folder.
// Ordering that keeps crashes harmless: a blob is written before its row commits (a crash leaves
// an orphan blob without a key, swept later) and unlinked after its row is deleted (a crash leaves
// the same). A row never points at a blob that was not fully written.
#include <algorithm>

#include "store/consent_rules.h"
#include "store/exports.h"
#include "store/item_rules.h"
#include "store/new_rows.h"
#include "store/row_readers.h"
#include "store/sqlite/sqlite_store.h"

namespace bgerase::store::sqlite {
namespace {

namespace fs = std::filesystem;

void InsertObject(SqliteDb& db, const ObjectInfo& o, const ObjectKey& key) {
  auto ins = db.Prepare(
      "INSERT INTO objects (id, owner, item_id, kind, purpose, on_behalf_of, mime, size, "
      "created_at, expires_at, consent_event_id, object_key) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)");
  ins.Bind(1, o.id).Bind(2, o.owner).Bind(3, o.item_id).Bind(4, ToString(o.kind));
  ins.Bind(5, ToString(o.purpose)).Bind(6, o.on_behalf_of).Bind(7, o.mime);
  ins.Bind(8, static_cast<std::int64_t>(o.size)).Bind(9, ToMillis(o.created_at));
  if (o.expires_at) {
    ins.Bind(10, ToMillis(*o.expires_at));
  } else {
    ins.BindNull(10);
  }
  ins.Bind(11, o.consent_event_id);
  ins.Bind(12, ByteView(key.data(), key.size()));
  ins.Run();
}

}  // namespace

// ---- Objects ----------------------------------------------------------------------------------

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
      InsertObject(*c_.db, o, key);
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

// ---- Training pool ----------------------------------------------------------------------------

Result<TrainingItemInfo> SqliteTrainingPool::AddItem(const NewTrainingItem& item) {
  return Guard([&]() -> Result<TrainingItemInfo> {
    auto made = NewTrainingObjects(item);
    if (!made.ok()) return made.status();
    std::vector<PendingObject>& pending = made.value();
    auto discard = [&] {
      for (PendingObject& p : pending) {
        WipeKey(p.key);
        c_.blobs.Remove(p.info.id);
      }
    };
    for (PendingObject& p : pending) {
      Status st = c_.blobs.Write(p.info.id, p.key, p.bytes);
      if (!st.ok()) {
        discard();
        return st;
      }
    }
    try {
      std::lock_guard lock(c_.db->mutex());
      Transaction tx(*c_.db);
      // Checked here for a clear error; the objects_training_needs_consent trigger checks again.
      Status consent =
          CheckTrainingConsent(c_.CurrentConsentLocked(item.owner), item.consent_event_id);
      if (!consent.ok()) throw DbError(consent);
      const Time now = c_.Now();
      for (PendingObject& p : pending) {
        p.info.created_at = now;
        InsertObject(*c_.db, p.info, p.key);
      }
      tx.Commit();
    } catch (...) {
      discard();
      throw;
    }
    for (PendingObject& p : pending) WipeKey(p.key);
    return TrainingItemOf(pending);
  });
}

Result<DatasetExportReport> SqliteTrainingPool::ExportDataset(
    const fs::path& dir, const std::function<void(const ItemId&)>& after_item) {
  return Guard([&]() -> Result<DatasetExportReport> {
    DatasetSource source;
    source.items = [&] {
      std::vector<ItemId> items;
      std::lock_guard lock(c_.db->mutex());
      auto q = c_.db->Prepare(
          "SELECT item_id FROM objects WHERE purpose = 'training' GROUP BY item_id "
          "ORDER BY min(created_at), item_id");
      while (q.Step()) items.push_back(q.Text(0));
      return items;
    };
    source.parts = [&](const ItemId& item) {
      TrainingItemParts parts;
      std::lock_guard lock(c_.db->mutex());
      auto q = c_.db->Prepare(std::string("SELECT ") + kObjectInfoColumns +
                              ", object_key FROM objects WHERE item_id = ?1 AND "
                              "purpose = 'training' ORDER BY kind");
      q.Bind(1, item);
      while (q.Step()) parts.objects.push_back(ReadKeyedObject(q));
      if (!parts.objects.empty()) {
        parts.owner_consent = c_.CurrentConsentLocked(parts.objects[0].info.owner);
      }
      return parts;
    };
    source.read = [&](const KeyedObject& p) { return c_.blobs.Read(p.info.id, p.key); };
    return ExportDatasetTo(dir, after_item, source);
  });
}

// ---- Data rights ------------------------------------------------------------------------------

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
