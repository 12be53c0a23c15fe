// Asynchronous jobs, shared by every replica on the same database: a replica accepts a job by
// storing its input (an ordinary processing object) and a queued row; whichever replica has a
// free worker claims it. A job, its input and its result follow the retention rule: all expire at
// created_at + retention.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"
#include "store/types.h"

namespace bgerase::store {

enum class JobStatus { kQueued, kRunning, kSucceeded, kFailed };
std::string_view ToString(JobStatus s);
// The status ToString wrote; nullopt for anything else.
std::optional<JobStatus> ParseJobStatus(std::string_view s);

struct Job {
  JobId id;
  AccountId owner;
  JobStatus status = JobStatus::kQueued;
  Time created_at{};
  Time expires_at{};
  ObjectId input_object_id;  // the stored upload the job works on
  std::string options;       // the request's options, as the API serialised them (JSON)
  std::optional<ObjectId> result_object_id;
  std::string error;  // a stable error code when status is kFailed
  int attempts = 0;   // how many times a replica has claimed it
};

// Thread-safe, and safe across processes sharing the database: a queued job is claimed by
// exactly one caller.
class JobStore {
 public:
  virtual ~JobStore() = default;

  // A new queued job for an existing account, working on `input_object_id` (one of the owner's
  // live objects; "not_found" otherwise) with `options`.
  virtual Result<Job> Create(const AccountId& owner, const ObjectId& input_object_id,
                             std::string_view options) = 0;

  // The job, only for its owner and only before it expires; "not_found" otherwise.
  virtual Result<Job> Get(const AccountId& owner, const JobId& id) = 0;

  // Atomically takes the oldest live job that is queued, or running but whose claim is older
  // than `lease` (its replica died), marks it running, counts the attempt and returns it;
  // nullopt when there is none. `worker` names the claimant (kept for operators' eyes).
  virtual Result<std::optional<Job>> Claim(std::string_view worker, std::chrono::seconds lease) = 0;

  // Moves a live job to `status`, recording its result object or error code.
  virtual Status Update(const JobId& id, JobStatus status, std::optional<ObjectId> result_object_id,
                        std::string_view error) = 0;
};

}  // namespace bgerase::store
