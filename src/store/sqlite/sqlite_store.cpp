// SqliteStore: opening, purging, and the Core helpers its parts share.
#include "store/sqlite/sqlite_store.h"

#include <sodium.h>

#include <unordered_set>

namespace bgerase::store::sqlite {

// ---- Core ---------------------------------------------------------------------------------------

bool Core::AccountExistsLocked(const AccountId& account) {
  auto q = db->Prepare("SELECT 1 FROM accounts WHERE id = ?1");
  q.Bind(1, account);
  return q.Step();
}

ConsentState Core::CurrentConsentLocked(const AccountId& account) {
  auto q = db->Prepare(
      "SELECT id, action, policy_version, at FROM consent_events WHERE account_id = ?1 "
      "ORDER BY id DESC LIMIT 1");
  q.Bind(1, account);
  ConsentState s;
  if (q.Step()) {
    s.event_id = q.Int(0);
    s.opted_in = q.Text(1) == "grant";
    s.policy_version = q.Text(2);
    s.changed_at = FromMillis(q.Int(3));
  }
  return s;
}

std::vector<ObjectId> Core::DeleteObjectsLocked(std::string_view where,
                                                const std::function<void(Statement&)>& bind,
                                                DeletionReason reason) {
  struct Victim {
    ObjectId id;
    AccountId owner;
    std::string purpose;
  };
  std::vector<Victim> victims;
  {
    auto q = db->Prepare("SELECT id, owner, purpose FROM objects WHERE " + std::string(where));
    bind(q);
    while (q.Step()) victims.push_back({q.Text(0), q.Text(1), q.Text(2)});
  }
  const std::int64_t now = ToMillis(Now());
  std::vector<ObjectId> ids;
  ids.reserve(victims.size());
  for (const Victim& v : victims) {
    auto log = db->Prepare(
        "INSERT INTO deletion_log (object_id, owner, purpose, reason, at) "
        "VALUES (?1, ?2, ?3, ?4, ?5)");
    log.Bind(1, v.id).Bind(2, v.owner).Bind(3, v.purpose).Bind(4, ToString(reason)).Bind(5, now);
    log.Run();
    auto del = db->Prepare("DELETE FROM objects WHERE id = ?1");
    del.Bind(1, v.id);
    del.Run();
    ids.push_back(v.id);
  }
  return ids;
}

void Core::FinishDeletion(const std::vector<ObjectId>& ids, bool checkpoint) {
  // Unlinking can cost milliseconds per file (discard on some filesystems); it happens outside
  // the database lock so a large purge does not stall requests. The rows, and with them the
  // keys, are already gone, so the files are unreadable whatever the timing.
  for (const ObjectId& id : ids) blobs.Remove(id);
  if (!ids.empty() || checkpoint) {
    std::lock_guard lock(db->mutex());
    db->CheckpointTruncate();
  }
}

void Core::InsertObjectLocked(const ObjectInfo& o, const ObjectKey& key) {
  auto ins = db->Prepare(
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

// ---- The store ----------------------------------------------------------------------------------

SqliteStore::SqliteStore(Core core) : core_(std::move(core)) {}

SqliteStore::~SqliteStore() {
  if (reaper_) reaper_->Stop();
}

Result<std::unique_ptr<Store>> SqliteStore::Open(const StoreOptions& options,
                                                 const std::filesystem::path& db_path) {
  return Guard([&]() -> Result<std::unique_ptr<Store>> {
    if (sodium_init() < 0) return Status(errors::kStorageError, "libsodium failed to initialise");
    Core core{nullptr, BlobFolder(options.data_dir / "blobs"),
              options.clock ? options.clock : DefaultClock(), options.retention, nullptr};
    BGERASE_RETURN_IF_ERROR(core.blobs.Init());
    core.db = SqliteDb::Open(db_path);
    std::unique_ptr<SqliteStore> store(new SqliteStore(std::move(core)));

    // Before anyone gets the handle: whatever expired while we were down (or crashed) goes now.
    auto purged = store->PurgeExpired();
    if (!purged.ok()) return purged.status();

    // Blobs without a row are undecryptable leftovers of a crash between writing a blob and
    // committing its row (or between committing a deletion and unlinking); reclaim their space.
    std::unordered_set<std::string> live;
    {
      std::lock_guard lock(store->core_.db->mutex());
      auto q = store->core_.db->Prepare("SELECT id FROM objects");
      while (q.Step()) live.insert(q.Text(0));
    }
    store->core_.blobs.SweepOrphans([&](const ObjectId& id) { return live.contains(id); },
                                    std::chrono::minutes(5));

    store->reaper_ = StartReaper(*store, options, store->core_.on_new_expiry);
    return std::unique_ptr<Store>(std::move(store));
  });
}

Result<PurgeReport> SqliteStore::PurgeExpired() {
  return Guard([&]() -> Result<PurgeReport> {
    PurgeReport report;
    std::vector<ObjectId> deleted;
    std::unique_lock lock(core_.db->mutex());
    {
      Transaction tx(*core_.db);
      const std::int64_t now = ToMillis(core_.Now());
      deleted = core_.DeleteObjectsLocked(
          "expires_at IS NOT NULL AND expires_at <= ?1", [&](Statement& q) { q.Bind(1, now); },
          DeletionReason::kExpired);
      auto jobs = core_.db->Prepare("DELETE FROM jobs WHERE expires_at <= ?1");
      jobs.Bind(1, now).Run();
      report.jobs = static_cast<std::size_t>(sqlite3_changes(core_.db->handle()));
      auto sessions = core_.db->Prepare("DELETE FROM sessions WHERE expires_at <= ?1");
      sessions.Bind(1, now).Run();
      report.sessions = static_cast<std::size_t>(sqlite3_changes(core_.db->handle()));
      tx.Commit();
    }
    lock.unlock();
    core_.FinishDeletion(deleted);
    report.objects = deleted.size();
    return report;
  });
}

Result<std::optional<Time>> SqliteStore::NextExpiry() {
  return Guard([&]() -> Result<std::optional<Time>> {
    std::lock_guard lock(core_.db->mutex());
    auto q = core_.db->Prepare(
        "SELECT min(e) FROM (SELECT min(expires_at) AS e FROM objects WHERE expires_at IS NOT NULL "
        "UNION ALL SELECT min(expires_at) FROM jobs UNION ALL SELECT min(expires_at) FROM "
        "sessions)");
    std::optional<Time> next;
    if (q.Step() && !q.IsNull(0)) next = FromMillis(q.Int(0));
    return next;
  });
}

Result<std::map<std::string, std::uint64_t>> SqliteStore::DeletionCounts() {
  return Guard([&]() -> Result<std::map<std::string, std::uint64_t>> {
    std::lock_guard lock(core_.db->mutex());
    auto q = core_.db->Prepare("SELECT reason, count(*) FROM deletion_log GROUP BY reason");
    std::map<std::string, std::uint64_t> out;
    while (q.Step()) out[q.Text(0)] = static_cast<std::uint64_t>(q.Int(1));
    return out;
  });
}

Status SqliteStore::Health() {
  return Guard([&]() -> Status {
    std::lock_guard lock(core_.db->mutex());
    auto q = core_.db->Prepare("SELECT 1");
    q.Step();
    return Status::Ok();
  });
}

}  // namespace bgerase::store::sqlite
