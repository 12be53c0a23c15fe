// JobStore on PostgreSQL. Claims use FOR UPDATE SKIP LOCKED, so replicas claiming together take
// different jobs.
#include "store/new_rows.h"
#include "store/postgres/pg_store.h"
#include "store/refusals.h"
#include "store/row_readers.h"

namespace bgerase::store::postgres {

Result<Job> PgJobs::Create(const AccountId& owner, const ObjectId& input_object_id,
                           std::string_view options) {
  return PgGuard([&]() -> Result<Job> {
    const Job job = NewQueuedJob(owner, input_object_id, options, c_.Now(), c_.retention);
    Status st = c_.pool->Run([&](pqxx::connection& conn) -> Status {
      pqxx::work tx(conn);
      // FOR KEY SHARE: the input cannot be deleted under us before the job row commits.
      const auto input = tx.exec_params(
          "SELECT 1 FROM objects WHERE id = $1 AND owner = $2 AND expires_at > $3 FOR KEY SHARE",
          input_object_id, owner, ToMillis(job.created_at));
      if (input.empty()) return refusals::NoSuchInputObject();
      tx.exec_params(
          "INSERT INTO jobs (id, owner, status, created_at, updated_at, expires_at, "
          "input_object_id, options) VALUES ($1, $2, 'queued', $3, $3, $4, $5, $6)",
          job.id, owner, ToMillis(job.created_at), ToMillis(job.expires_at), input_object_id,
          job.options);
      tx.commit();
      return Status::Ok();
    });
    if (!st.ok()) return st;
    if (c_.on_new_expiry) c_.on_new_expiry(job.expires_at);
    return job;
  });
}

Result<Job> PgJobs::Get(const AccountId& owner, const JobId& id) {
  return PgGuard([&]() -> Result<Job> {
    return c_.pool->Run([&](pqxx::connection& conn) -> Result<Job> {
      pqxx::read_transaction tx(conn);
      const auto r =
          tx.exec_params(std::string("SELECT ") + kJobColumns +
                             " FROM jobs WHERE id = $1 AND owner = $2 AND expires_at > $3",
                         id, owner, ToMillis(c_.Now()));
      if (r.empty()) return refusals::NoSuchJob();
      return ReadJob(PgRow(r[0]));
    });
  });
}

Result<std::optional<Job>> PgJobs::Claim(std::string_view worker, std::chrono::seconds lease) {
  return PgGuard([&]() -> Result<std::optional<Job>> {
    return c_.pool->Run([&](pqxx::connection& conn) -> Result<std::optional<Job>> {
      pqxx::work tx(conn);
      const std::int64_t now = ToMillis(c_.Now());
      // SKIP LOCKED: replicas claiming at the same moment take different jobs instead of
      // queueing on one; a row another claimer changed meanwhile is re-checked and skipped.
      const auto r = tx.exec_params(
          std::string("UPDATE jobs SET status = 'running', claimed_by = $2, claimed_at = $1, "
                      "updated_at = $1, attempts = attempts + 1 WHERE id = ("
                      "SELECT id FROM jobs WHERE expires_at > $1 AND (status = 'queued' OR "
                      "(status = 'running' AND claimed_at <= $3)) ORDER BY created_at LIMIT 1 "
                      "FOR UPDATE SKIP LOCKED) RETURNING ") +
              kJobColumns,
          now, std::string(worker),
          now - std::chrono::duration_cast<std::chrono::milliseconds>(lease).count());
      tx.commit();
      if (r.empty()) return std::optional<Job>();
      return std::optional<Job>(ReadJob(PgRow(r[0])));
    });
  });
}

Status PgJobs::Update(const JobId& id, JobStatus status, std::optional<ObjectId> result_object_id,
                      std::string_view error) {
  return PgGuard([&]() -> Status {
    return c_.pool->Run([&](pqxx::connection& conn) -> Status {
      pqxx::work tx(conn);
      const std::int64_t now = ToMillis(c_.Now());
      const auto r = tx.exec_params(
          "UPDATE jobs SET status = $2, result_object_id = $3, error = $4, updated_at = $5 "
          "WHERE id = $1 AND expires_at > $5",
          id, std::string(ToString(status)), result_object_id, std::string(error), now);
      tx.commit();
      if (r.affected_rows() == 0) return refusals::NoSuchJob();
      return Status::Ok();
    });
  });
}

}  // namespace bgerase::store::postgres
