// Email, password and API key rules on libsodium (argon2id for passwords, BLAKE2b for keys).
#include "store/credentials.h"

#include <sodium.h>

#include <cctype>

#include "store/errors.h"
#include "store/refusals.h"
#include "store/secrets.h"

namespace bgerase::store {
namespace {

constexpr std::size_t kMinPassword = 8;
constexpr std::string_view kKeyTag = "bge_";
constexpr std::size_t kKeyHex = 64;
constexpr std::size_t kPrefixHex = 8;

bool IsHex(std::string_view s) {
  for (char c : s) {
    if (!std::isxdigit(static_cast<unsigned char>(c)) ||
        std::isupper(static_cast<unsigned char>(c))) {
      return false;
    }
  }
  return true;
}

// A valid argon2id hash of a random password, so that checking an unknown email costs the same
// as checking a known one and timing does not reveal which emails have accounts.
const std::string& DummyPasswordHash() {
  static const std::string hash = [] {
    char out[crypto_pwhash_STRBYTES];
    const std::string pw = RandomHex32();
    if (crypto_pwhash_str(out, pw.data(), pw.size(), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                          crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0) {
      return std::string();
    }
    return std::string(out);
  }();
  return hash;
}

}  // namespace

// ---- Accounts -----------------------------------------------------------------------------------

Status CheckEmail(std::string_view e) {
  const Status invalid(errors::kInvalidEmail, "'" + std::string(e) + "' is not an email address");
  if (e.size() < 3 || e.size() > 254) return invalid;
  const auto at = e.find('@');
  if (at == std::string_view::npos || at == 0 || at + 1 == e.size() ||
      e.find('@', at + 1) != std::string_view::npos) {
    return invalid;
  }
  for (char c : e) {
    if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f) return invalid;
  }
  return Status::Ok();
}

Result<std::optional<std::string>> HashPassword(std::optional<std::string_view> password) {
  if (!password) return std::optional<std::string>();
  if (password->size() < kMinPassword) {
    return Status(errors::kWeakPassword, "passwords need at least 8 characters");
  }
  char out[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str(out, password->data(), password->size(), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                        crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0) {
    return Status(errors::kStorageError, "out of memory while hashing the password");
  }
  return std::optional<std::string>(std::string(out));
}

bool PasswordMatches(const std::string& hash, std::string_view password) {
  const std::string& check = hash.empty() ? DummyPasswordHash() : hash;
  const bool match = crypto_pwhash_str_verify(check.c_str(), password.data(), password.size()) == 0;
  return !hash.empty() && match;
}

Result<Account> CheckSignIn(std::optional<Account> account, const std::string& hash,
                            std::string_view password) {
  const bool matches = PasswordMatches(hash, password);  // first: never skipped
  if (!account || !matches) return Status(errors::kInvalidCredentials, "wrong email or password");
  return *account;
}

// ---- API keys -----------------------------------------------------------------------------------

ApiKeySecret GenerateApiKey() {
  const std::string hex = RandomHex32();
  return {std::string(kKeyTag) + hex, hex.substr(0, kPrefixHex)};
}

std::optional<std::string> ApiKeyPrefix(std::string_view key) {
  if (key.size() != kKeyTag.size() + kKeyHex || !key.starts_with(kKeyTag) ||
      !IsHex(key.substr(kKeyTag.size()))) {
    return std::nullopt;
  }
  return std::string(key.substr(kKeyTag.size(), kPrefixHex));
}

Result<PresentedApiKey> ParsePresentedApiKey(std::string_view key) {
  std::optional<std::string> prefix = ApiKeyPrefix(key);
  if (!prefix) return refusals::InvalidApiKey();
  return PresentedApiKey{std::move(*prefix), SecretHash(key)};
}

Result<ApiKeyInfo> CheckApiKey(const std::optional<StoredApiKey>& row,
                               const PresentedApiKey& presented) {
  if (!row || !SecretHashEquals(row->key_hash, presented.hash) || row->info.revoked_at) {
    return refusals::InvalidApiKey();
  }
  return row->info;
}

Result<RevokeTarget> ParseRevokeTarget(std::string_view prefix_or_key) {
  std::string_view s = prefix_or_key;
  if (s.starts_with(kKeyTag)) s.remove_prefix(kKeyTag.size());
  if (!IsHex(s) || (s.size() != kPrefixHex && s.size() != kKeyHex)) {
    return Status(errors::kNotFound, "not an API key or key prefix");
  }
  RevokeTarget t;
  t.prefix = std::string(s.substr(0, kPrefixHex));
  // A full key must be the real one, not merely share its public prefix.
  if (s.size() == kKeyHex) t.key_hash = SecretHash(std::string(kKeyTag) + std::string(s));
  return t;
}

Status CheckRevoke(const RevokeTarget& target, const std::optional<AccountId>& owner,
                   const std::optional<StoredApiKey>& row) {
  if (!row || (owner && row->info.account != *owner) ||
      (target.key_hash && !SecretHashEquals(row->key_hash, *target.key_hash))) {
    return refusals::NoSuchApiKey();
  }
  return Status::Ok();
}

}  // namespace bgerase::store
