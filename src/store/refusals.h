// Every refusal a backend answers with, built in one place so a code always comes with the same
// message whichever backend answers. Internal to src/store; the codes are in errors.h.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"
#include "store/errors.h"

namespace bgerase::store::refusals {

inline Status NoSuchAccount() {
  return Status(errors::kNotFound, "no such account");
}
inline Status NoAccountFor(std::string_view email) {
  return Status(errors::kNotFound, "no account for " + std::string(email));
}
inline Status AccountExists(std::string_view email) {
  return Status(errors::kAccountExists, "an account for " + std::string(email) + " exists");
}
inline Status InvalidApiKey() {
  return Status(errors::kInvalidApiKey, "the API key is unknown or revoked");
}
inline Status NoSuchApiKey() {
  return Status(errors::kNotFound, "no such API key");
}
inline Status InvalidSession() {
  return Status(errors::kInvalidSession, "not signed in, or the session expired");
}
inline Status NoSuchObject() {
  return Status(errors::kNotFound, "no such object");
}
// Another account's item is "not found" too: its existence is nobody else's business.
inline Status NoSuchItem() {
  return Status(errors::kNotFound, "no such item");
}
inline Status NoSuchJob() {
  return Status(errors::kNotFound, "no such job");
}
inline Status InsufficientCredits() {
  return Status(errors::kInsufficientCredits, "this month's credit allowance is spent");
}
inline Status NoSuchInputObject() {
  return Status(errors::kNotFound, "no such input object");
}

}  // namespace bgerase::store::refusals
