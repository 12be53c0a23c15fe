// The rules by which accounts, API keys and sessions prove who is asking: email and password
// checks, the sign-in verdict, the API key format, and the verdicts on a presented or revoked key.
// Internal to src/store: each backend looks the rows up and asks these for the answer, so the
// answers (and their timing) are the same whichever database holds the rows.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"
#include "store/account_store.h"
#include "store/api_key_store.h"
#include "store/types.h"

namespace bgerase::store {

// ---- Accounts -----------------------------------------------------------------------------------

// "invalid_email" unless `email` looks like one address.
Status CheckEmail(std::string_view email);
// The argon2id string for `password` (nullopt for API-only accounts); "weak_password" when it is
// under 8 characters. Slow (~0.1 s, 64 MiB): call it before taking any database lock.
Result<std::optional<std::string>> HashPassword(std::optional<std::string_view> password);
// Whether `password` matches `hash` (an argon2id string, empty for API-only accounts). Without a
// hash it checks against a dummy one, so unknown emails cost the same time as known ones.
bool PasswordMatches(const std::string& hash, std::string_view password);
// The sign-in verdict for the row a backend found (`account` null when the email is unknown,
// `hash` its password hash): the hash check always runs, the dummy one for an unknown email, so
// the answer's timing does not tell which emails have accounts. "invalid_credentials" otherwise.
Result<Account> CheckSignIn(std::optional<Account> account, const std::string& hash,
                            std::string_view password);

// ---- API keys -----------------------------------------------------------------------------------

// A fresh key ("bge_" + 64 hex) and its public prefix (its first 8 hex digits).
struct ApiKeySecret {
  std::string key;
  std::string prefix;
};
ApiKeySecret GenerateApiKey();
// The public prefix of a well-formed full key; nullopt for anything else.
std::optional<std::string> ApiKeyPrefix(std::string_view key);

// A key presented for authentication: the prefix to look its row up by, and its hash.
struct PresentedApiKey {
  std::string prefix;
  Bytes hash;
};
// "invalid_api_key" for anything that is not a well-formed full key.
Result<PresentedApiKey> ParsePresentedApiKey(std::string_view key);

// A key's row as stored: its public info and the hash of the secret.
struct StoredApiKey {
  ApiKeyInfo info;
  Bytes key_hash;
};
// Authenticate's verdict on the row found by the presented key's prefix (null when none): its
// info when the hashes match and the key is not revoked, else "invalid_api_key" — one answer
// for unknown, wrong and revoked keys.
Result<ApiKeyInfo> CheckApiKey(const std::optional<StoredApiKey>& row,
                               const PresentedApiKey& presented);

// What Revoke was given: a prefix, or a full key whose hash must then match too.
struct RevokeTarget {
  std::string prefix;
  std::optional<Bytes> key_hash;  // set when a full key was given
};
// "not_found" when `prefix_or_key` is neither (with or without "bge_").
Result<RevokeTarget> ParseRevokeTarget(std::string_view prefix_or_key);
// Revoke's verdict on the row found by the target's prefix (null when none): OK when it is
// `owner`'s (if one is named) and, for a full key, the key's; "not_found" otherwise.
Status CheckRevoke(const RevokeTarget& target, const std::optional<AccountId>& owner,
                   const std::optional<StoredApiKey>& row);

}  // namespace bgerase::store
