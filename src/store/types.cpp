// String forms of the store's enums, as written to the database and shown to users.
#include "store/types.h"

#include "store/consent_ledger.h"
#include "store/job_store.h"

namespace bgerase::store {

std::string_view ToString(Purpose p) {
  return p == Purpose::kTraining ? "training" : "processing";
}

std::string_view ToString(ObjectKind k) {
  switch (k) {
    case ObjectKind::kInput:
      return "input";
    case ObjectKind::kResult:
      return "result";
    case ObjectKind::kMask:
      return "mask";
  }
  return "input";
}

std::string_view ToString(DeletionReason r) {
  switch (r) {
    case DeletionReason::kExpired:
      return "expired";
    case DeletionReason::kOwnerRequest:
      return "owner_request";
    case DeletionReason::kConsentWithdrawn:
      return "consent_withdrawn";
    case DeletionReason::kAccountDeleted:
      return "account_deleted";
  }
  return "expired";
}

std::optional<Purpose> ParsePurpose(std::string_view s) {
  if (s == "processing") return Purpose::kProcessing;
  if (s == "training") return Purpose::kTraining;
  return std::nullopt;
}

std::optional<ObjectKind> ParseObjectKind(std::string_view s) {
  if (s == "input") return ObjectKind::kInput;
  if (s == "result") return ObjectKind::kResult;
  if (s == "mask") return ObjectKind::kMask;
  return std::nullopt;
}

std::string_view ToString(ConsentActor a) {
  switch (a) {
    case ConsentActor::kWeb:
      return "web";
    case ConsentActor::kApi:
      return "api";
    case ConsentActor::kCli:
      return "cli";
  }
  return "api";
}

std::string_view ToString(JobStatus s) {
  switch (s) {
    case JobStatus::kQueued:
      return "queued";
    case JobStatus::kRunning:
      return "running";
    case JobStatus::kSucceeded:
      return "succeeded";
    case JobStatus::kFailed:
      return "failed";
  }
  return "failed";
}

std::optional<JobStatus> ParseJobStatus(std::string_view s) {
  if (s == "queued") return JobStatus::kQueued;
  if (s == "running") return JobStatus::kRunning;
  if (s == "succeeded") return JobStatus::kSucceeded;
  if (s == "failed") return JobStatus::kFailed;
  return std::nullopt;
}

ConsentActor ParseConsentActor(std::string_view s) {
  return s == "web" ? ConsentActor::kWeb : (s == "cli" ? ConsentActor::kCli : ConsentActor::kApi);
}

}  // namespace bgerase::store
