// Usage: how many images each account had processed, per UTC day. Persistent, so the account
// page and GET /v2/account show the same numbers after a restart and across replicas.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "store/types.h"

namespace bgerase::store {

struct DailyUsage {
  std::string day;  // "YYYY-MM-DD", UTC
  std::uint64_t images = 0;
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
};

}  // namespace bgerase::store
