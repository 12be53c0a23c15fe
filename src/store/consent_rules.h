// The consent ledger's rules, written once for every backend: what a consent change needs, when
// consent admits a training item, and the withdrawal that deleting an opted-in account implies.
// Internal to src/store.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"
#include "store/consent_ledger.h"

namespace bgerase::store {

// "invalid_argument" for an empty policy version; Grant and Withdraw need one.
Status CheckPolicyVersion(std::string_view policy_version);

// Whether consent in state `consent` (the owner's current one) admits training data under the
// grant `event`: only while that grant is the owner's latest ledger event.
bool AdmitsTraining(const ConsentState& consent, std::optional<ConsentEventId> event);
// AdmitsTraining as TrainingPool::AddItem's answer: OK, or "consent_not_active".
Status CheckTrainingConsent(const ConsentState& consent, ConsentEventId event);

// The policy version under which deleting an account must first append a withdrawal (the ledger
// shows every transition, including the one account deletion implies); nullopt when the account
// is not opted in.
std::optional<std::string> WithdrawalImpliedByDeletion(const ConsentState& consent);

}  // namespace bgerase::store
