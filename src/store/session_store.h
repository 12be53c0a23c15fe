// Web sessions: a random token in the customer's cookie, only its hash in the database.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>

#include "common/status.h"
#include "store/types.h"

namespace bgerase::store {

// The size of SessionStore::FormKey.
inline constexpr std::size_t kFormKeyBytes = 32;

struct NewSession {
  std::string token;  // the only copy; goes into the cookie
  AccountId account;
  Time expires_at{};
};

struct SessionInfo {
  AccountId account;
  Time expires_at{};
};

// Thread-safe. Expired sessions are refused at once and removed by the reaper.
class SessionStore {
 public:
  virtual ~SessionStore() = default;

  // Starts a session for an existing account, valid for `ttl` from now.
  virtual Result<NewSession> Create(const AccountId& account, std::chrono::seconds ttl) = 0;

  // "invalid_session" for unknown, ended or expired tokens.
  virtual Result<SessionInfo> Validate(std::string_view token) = 0;

  // Ends the session (logout). Ending an unknown token succeeds.
  virtual Status End(std::string_view token) = 0;

  // The key the web pages sign their signed-out CSRF tokens with: 32 random bytes, made on first
  // use and then the same for every replica on this store, so a form fetched from one replica
  // posts to another. Never sent to anyone; deleting it only expires the signed-out forms open.
  virtual Result<Bytes> FormKey() = 0;
};

}  // namespace bgerase::store
