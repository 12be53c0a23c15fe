// Parsing and validation of the configured retention.
#include "store/retention_policy.h"

#include <cctype>
#include <cstdint>
#include <string>

#include "store/errors.h"

namespace bgerase::store {
namespace {

Status Invalid(std::string_view text, const std::string& why) {
  return Status(errors::kInvalidRetention, "retention '" + std::string(text) + "' " + why +
                                               " (use e.g. 45s, 30m, 2h; at most 24h)");
}

}  // namespace

Result<std::chrono::seconds> ParseDuration(std::string_view text) {
  if (text.empty()) return Invalid(text, "is empty");
  std::int64_t total = 0;
  size_t i = 0;
  while (i < text.size()) {
    if (!std::isdigit(static_cast<unsigned char>(text[i]))) {
      return Invalid(text, "is not a duration");
    }
    std::int64_t n = 0;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) {
      n = n * 10 + (text[i] - '0');
      // Anything this large is far above the 24 h ceiling; stop before overflow.
      if (n > 1'000'000'000) return Invalid(text, "is too large");
      ++i;
    }
    if (i == text.size()) return Invalid(text, "needs a unit (s, m, h or d)");
    std::int64_t unit = 0;
    switch (text[i]) {
      case 's':
        unit = 1;
        break;
      case 'm':
        unit = 60;
        break;
      case 'h':
        unit = 3600;
        break;
      case 'd':
        unit = 86400;
        break;
      default:
        return Invalid(text, "has an unknown unit");
    }
    ++i;
    total += n * unit;
    if (total > 1'000'000'000) return Invalid(text, "is too large");
  }
  return std::chrono::seconds(total);
}

Result<RetentionPolicy> RetentionPolicy::Create(std::chrono::seconds retention) {
  if (retention <= std::chrono::seconds(0)) {
    return Status(errors::kInvalidRetention, "retention must be positive");
  }
  if (retention > kMaxRetention) {
    return Status(errors::kInvalidRetention,
                  "retention of " + std::to_string(retention.count()) +
                      "s exceeds the 24-hour maximum bgerase promises; configure 24h or less");
  }
  return RetentionPolicy(retention);
}

Result<RetentionPolicy> RetentionPolicy::Parse(std::string_view text) {
  auto d = ParseDuration(text);
  if (!d.ok()) return d.status();
  return Create(*d);
}

}  // namespace bgerase::store
