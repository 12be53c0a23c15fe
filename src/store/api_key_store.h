// API keys: 32 random bytes shown to the customer once, stored only as a hash beside a short
// public prefix used to find the row.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "store/types.h"

namespace bgerase::store {

struct ApiKeyInfo {
  std::string prefix;  // public; shown in listings and accepted by Revoke
  AccountId account;
  Time created_at{};
  std::optional<Time> last_used_at;
  std::optional<Time> revoked_at;
};

// A freshly created key. `key` is the only copy of the secret; it cannot be recovered later.
struct NewApiKey {
  ApiKeyInfo info;
  std::string key;  // "bge_" + 64 hex digits
};

// Thread-safe. Keys are compared in constant time against a BLAKE2b hash; no plaintext key is
// ever written to the database.
class ApiKeyStore {
 public:
  virtual ~ApiKeyStore() = default;

  // Creates a key for an existing account ("not_found" otherwise).
  virtual Result<NewApiKey> Create(const AccountId& account) = 0;

  // Returns the key's info when `key` is live, and records last_used_at. Unknown, malformed and
  // revoked keys all give "invalid_api_key".
  virtual Result<ApiKeyInfo> Authenticate(std::string_view key) = 0;

  // Revokes by full key or by its public prefix (with or without "bge_"). When `owner` is set,
  // only that account's keys match (what the web page uses). "not_found" if nothing matched.
  // Revoking an already revoked key succeeds.
  virtual Status Revoke(std::string_view prefix_or_key, std::optional<AccountId> owner) = 0;

  // The account's keys, revoked ones included, oldest first.
  virtual Result<std::vector<ApiKeyInfo>> List(const AccountId& account) = 0;
};

}  // namespace bgerase::store
