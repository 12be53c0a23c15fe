// Asynchronous jobs: just enough state for the API to accept work and answer later. A job and its
// result follow the retention rule: both expire at created_at + retention.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"
#include "store/types.h"

namespace bgerase::store {

enum class JobStatus { kQueued, kRunning, kSucceeded, kFailed };
std::string_view ToString(JobStatus s);

struct Job {
  JobId id;
  AccountId owner;
  JobStatus status = JobStatus::kQueued;
  Time created_at{};
  Time expires_at{};
  std::optional<ObjectId> result_object_id;
  std::string error;  // a stable error code when status is kFailed
};

// Thread-safe.
class JobStore {
 public:
  virtual ~JobStore() = default;

  // A new queued job for an existing account.
  virtual Result<Job> Create(const AccountId& owner) = 0;

  // The job, only for its owner and only before it expires; "not_found" otherwise.
  virtual Result<Job> Get(const AccountId& owner, const JobId& id) = 0;

  // Moves a live job to `status`, recording its result object or error code.
  virtual Status Update(const JobId& id, JobStatus status, std::optional<ObjectId> result_object_id,
                        std::string_view error) = 0;
};

}  // namespace bgerase::store
