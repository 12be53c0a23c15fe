// Consent rules.
#include "store/consent_rules.h"

#include "store/errors.h"

namespace bgerase::store {

Status CheckPolicyVersion(std::string_view policy_version) {
  if (policy_version.empty()) {
    return Status(errors::kInvalidArgument, "a policy version is required");
  }
  return Status::Ok();
}

bool AdmitsTraining(const ConsentState& consent, std::optional<ConsentEventId> event) {
  return consent.opted_in && event && consent.event_id == event;
}

Status CheckTrainingConsent(const ConsentState& consent, ConsentEventId event) {
  if (!AdmitsTraining(consent, event)) {
    return Status(errors::kConsentNotActive, "the owner's consent to training is not active");
  }
  return Status::Ok();
}

std::optional<std::string> WithdrawalImpliedByDeletion(const ConsentState& consent) {
  if (!consent.opted_in) return std::nullopt;
  return consent.policy_version;
}

}  // namespace bgerase::store
