// String forms of the store's enums, as written to the database and shown to users.
#include "store/types.h"

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

}  // namespace bgerase::store
