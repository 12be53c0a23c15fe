// SqliteStore: opening, the shared Core helpers, the consent ledger, jobs and purging.
#include "store/sqlite/sqlite_store.h"

#include <sodium.h>

#include <unordered_set>

#include "store/consent_rules.h"
#include "store/new_rows.h"
#include "store/row_readers.h"

namespace bgerase::store::sqlite {

// ---- Core -----------------------------------------------------------------------------------

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

// ---- Consent ledger ---------------------------------------------------------------------------

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

// ---- Jobs ---------------------------------------------------------------------------------------

Result<Job> SqliteJobs::Create(const AccountId& owner, const ObjectId& input_object_id,
                               std::string_view options) {
  return Guard([&]() -> Result<Job> {
    const Job job = NewQueuedJob(owner, input_object_id, options, c_.Now(), c_.retention);
    {
      std::lock_guard lock(c_.db->mutex());
      Transaction tx(*c_.db);
      auto input =
          c_.db->Prepare("SELECT 1 FROM objects WHERE id = ?1 AND owner = ?2 AND expires_at > ?3");
      input.Bind(1, input_object_id).Bind(2, owner).Bind(3, ToMillis(job.created_at));
      if (!input.Step()) return refusals::NoSuchInputObject();
      auto ins = c_.db->Prepare(
          "INSERT INTO jobs (id, owner, status, created_at, updated_at, expires_at, "
          "input_object_id, options) VALUES (?1, ?2, 'queued', ?3, ?3, ?4, ?5, ?6)");
      ins.Bind(1, job.id).Bind(2, owner).Bind(3, ToMillis(job.created_at));
      ins.Bind(4, ToMillis(job.expires_at)).Bind(5, input_object_id).Bind(6, options);
      ins.Run();
      tx.Commit();
    }
    if (c_.on_new_expiry) c_.on_new_expiry(job.expires_at);
    return job;
  });
}

Result<Job> SqliteJobs::Get(const AccountId& owner, const JobId& id) {
  return Guard([&]() -> Result<Job> {
    std::lock_guard lock(c_.db->mutex());
    auto q = c_.db->Prepare(std::string("SELECT ") + kJobColumns +
                            " FROM jobs WHERE id = ?1 AND owner = ?2 AND expires_at > ?3");
    q.Bind(1, id).Bind(2, owner).Bind(3, ToMillis(c_.Now()));
    if (!q.Step()) return refusals::NoSuchJob();
    return ReadJob(q);
  });
}

Result<std::optional<Job>> SqliteJobs::Claim(std::string_view worker, std::chrono::seconds lease) {
  return Guard([&]() -> Result<std::optional<Job>> {
    std::lock_guard lock(c_.db->mutex());
    const std::int64_t now = ToMillis(c_.Now());
    // One statement under SQLite's write lock: two processes can never claim the same job.
    auto q = c_.db->Prepare(
        std::string("UPDATE jobs SET status = 'running', claimed_by = ?2, claimed_at = ?1, "
                    "updated_at = ?1, attempts = attempts + 1 WHERE id = ("
                    "SELECT id FROM jobs WHERE expires_at > ?1 AND (status = 'queued' OR "
                    "(status = 'running' AND claimed_at <= ?3)) ORDER BY created_at LIMIT 1) "
                    "RETURNING ") +
        kJobColumns);
    q.Bind(1, now).Bind(2, worker);
    q.Bind(3, now - std::chrono::duration_cast<std::chrono::milliseconds>(lease).count());
    if (!q.Step()) return std::optional<Job>();
    return std::optional<Job>(ReadJob(q));
  });
}

Status SqliteJobs::Update(const JobId& id, JobStatus status,
                          std::optional<ObjectId> result_object_id, std::string_view error) {
  return Guard([&]() -> Status {
    std::lock_guard lock(c_.db->mutex());
    const std::int64_t now = ToMillis(c_.Now());
    auto q = c_.db->Prepare(
        "UPDATE jobs SET status = ?2, result_object_id = ?3, error = ?4, updated_at = ?5 "
        "WHERE id = ?1 AND expires_at > ?5");
    q.Bind(1, id).Bind(2, ToString(status)).Bind(3, result_object_id).Bind(4, error).Bind(5, now);
    q.Run();
    if (sqlite3_changes(c_.db->handle()) == 0) return refusals::NoSuchJob();
    return Status::Ok();
  });
}

// ---- The store -------------------------------------------------------------------------------

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
