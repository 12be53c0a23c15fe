// Accounts: an email, an optional password (stored only as an argon2id hash) and an opaque id.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "store/types.h"

namespace bgerase::store {

struct Account {
  AccountId id;  // opaque and random; never derived from the email
  std::string email;
  bool has_password = false;  // false for API-only accounts
  Time created_at{};
};

// Thread-safe. Passwords are hashed with argon2id (libsodium crypto_pwhash_str) before they
// reach the database; the plaintext is never stored or logged.
class AccountStore {
 public:
  virtual ~AccountStore() = default;

  // Creates an account. Without a password the account can only use API keys.
  // Errors: "invalid_email", "weak_password" (under 8 characters), "account_exists" (emails are
  // compared case-insensitively).
  virtual Result<Account> Create(std::string_view email,
                                 std::optional<std::string_view> password) = 0;

  // "not_found" when no live account has this email / id.
  virtual Result<Account> FindByEmail(std::string_view email) = 0;
  virtual Result<Account> FindById(const AccountId& id) = 0;

  // Returns the account when `password` matches; "invalid_credentials" otherwise, including for
  // unknown emails and API-only accounts, so callers cannot tell which.
  virtual Result<Account> VerifyPassword(std::string_view email, std::string_view password) = 0;

  // All accounts, oldest first.
  virtual Result<std::vector<Account>> List() = 0;
};

}  // namespace bgerase::store
