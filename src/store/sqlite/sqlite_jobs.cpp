// JobStore on SQLite. A claim is one UPDATE under the database write lock, so two processes never
// claim the same job.
#include "store/new_rows.h"
#include "store/refusals.h"
#include "store/row_readers.h"
#include "store/sqlite/sqlite_store.h"

namespace bgerase::store::sqlite {

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

}  // namespace bgerase::store::sqlite
