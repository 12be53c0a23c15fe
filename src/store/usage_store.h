// Usage: how many images each account had processed, per UTC day. Persistent, so the account
// page and GET /v2/account show the same numbers after a restart and across replicas.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "store/types.h"

namespace bgerase::store {

struct DailyUsage {
  std::string day;  // "YYYY-MM-DD", UTC
  std::uint64_t images = 0;
};

// Credits, remove.bg's unit of price: an image costs one, or a quarter at its 0.25 MP sizes.
// Counted in quarters, so every sum is exact.
inline constexpr std::int64_t kQuartersPerCredit = 4;

// An account's credits in the current UTC calendar month.
struct CreditState {
  std::optional<std::int64_t> allowance;  // quarters a month, set by the operator; none: unlimited
  std::int64_t spent = 0;                 // quarters charged this month (refunds taken off)
};

// Thread-safe. Counts only: never which images, never their content.
class UsageStore {
 public:
  virtual ~UsageStore() = default;

  // Adds `images` to the account's count for today (the store's clock, UTC). Counting for an
  // unknown account is "not_found".
  virtual Status Record(const AccountId& account, std::uint64_t images = 1) = 0;

  // The last `days` days ending today, oldest first, one entry per day (zero where nothing was
  // processed). `days` is clamped to 1..366.
  virtual Result<std::vector<DailyUsage>> Daily(const AccountId& account, int days) = 0;

  // Every image ever counted for the account.
  virtual Result<std::uint64_t> Total(const AccountId& account) = 0;

  // The month's allowance and what was charged against it.
  virtual Result<CreditState> Credits(const AccountId& account) = 0;
  // Charges `quarters` to today when the month's allowance still holds all of them, in one
  // transaction (concurrent charges, on any replica, cannot overspend it); "insufficient_credits"
  // and nothing charged otherwise. Accounts without an allowance are charged too, unlimited, so
  // the month's count is known. "not_found" for an unknown account.
  virtual Status Charge(const AccountId& account, std::int64_t quarters) = 0;
  // Gives back a charge made at `charged_at` (its request failed after it was charged).
  virtual Status Refund(const AccountId& account, std::int64_t quarters, Time charged_at) = 0;
  // Sets the monthly allowance in quarters (at least 0), or removes it (unlimited).
  virtual Status SetAllowance(const AccountId& account, std::optional<std::int64_t> quarters) = 0;
};

}  // namespace bgerase::store
