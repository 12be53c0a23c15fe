// How long `processing` objects are kept. promise 3 in docs/design/privacy.md: at most 24 hours,
// operators may configure less, never more. This is the only place that turns a configured
// retention into an expiry time; the object store and the job store ask it.
#pragma once

#include <chrono>
#include <string_view>

#include "common/status.h"
#include "store/clock.h"

namespace bgerase::store {

// The ceiling the product promises. A larger configured retention is refused, never clamped, so
// an operator cannot believe they configured something the service does not do.
inline constexpr std::chrono::seconds kMaxRetention = std::chrono::hours(24);

// Parses a duration such as "45s", "30m", "2h", "1h30m" or "1d". Every number needs a unit.
// Returns "invalid_retention" for anything else.
Result<std::chrono::seconds> ParseDuration(std::string_view text);

// An immutable, validated retention. Copyable and thread-safe.
class RetentionPolicy {
 public:
  // The default: the full 24 hours.
  RetentionPolicy() = default;

  // Accepts 0 < retention <= kMaxRetention; otherwise "invalid_retention".
  static Result<RetentionPolicy> Create(std::chrono::seconds retention);
  // ParseDuration followed by Create.
  static Result<RetentionPolicy> Parse(std::string_view text);

  std::chrono::seconds retention() const { return retention_; }
  // When a processing object (or job) created at `created_at` stops existing.
  Time ExpiryFor(Time created_at) const { return created_at + retention_; }

 private:
  explicit RetentionPolicy(std::chrono::seconds r) : retention_(r) {}
  std::chrono::seconds retention_ = kMaxRetention;
};

}  // namespace bgerase::store
