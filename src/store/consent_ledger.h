// The consent ledger: every grant and withdrawal of the AI-training opt-in, append-only.
// The current state of an account is derived from its latest event; there is no other copy of it.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "store/types.h"

namespace bgerase::store {

// Who made the change: the account page, the account API, or an operator on the CLI.
enum class ConsentActor { kWeb, kApi, kCli };
std::string_view ToString(ConsentActor a);
// The actor ToString wrote; anything else reads as kApi.
ConsentActor ParseConsentActor(std::string_view s);

struct ConsentEvent {
  ConsentEventId id = 0;  // increases with time
  AccountId account;
  bool granted = false;  // true = opt-in, false = withdrawal
  std::string policy_version;
  ConsentActor actor = ConsentActor::kApi;
  Time at{};
};

// Derived from the latest event. Every account starts with no event, i.e. opted out.
struct ConsentState {
  bool opted_in = false;
  std::optional<ConsentEventId> event_id;  // the latest event, if any
  std::optional<Time> changed_at;
  std::string policy_version;
};

// What a withdrawal did.
struct Withdrawal {
  ConsentState state;
  std::size_t training_objects_deleted = 0;
};

// Thread-safe, and safe across processes sharing a database. Rows are never updated or deleted —
// the database itself refuses it — and they outlive the account, carrying only its opaque id.
class ConsentLedger {
 public:
  virtual ~ConsentLedger() = default;

  // Opts the account in under `policy_version`. If it is already opted in nothing is appended and
  // the current state is returned. "not_found" for unknown accounts.
  virtual Result<ConsentState> Grant(const AccountId& account, std::string_view policy_version,
                                     ConsentActor actor) = 0;

  // Opts the account out. In the same transaction as the appended event, every training object of
  // the account is deleted (rows and keys; files are unlinked right after commit), so no moment
  // exists where consent is withdrawn and training data remains readable. Withdrawing when
  // already opted out appends nothing and deletes nothing.
  virtual Result<Withdrawal> Withdraw(const AccountId& account, std::string_view policy_version,
                                      ConsentActor actor) = 0;

  virtual Result<ConsentState> Current(const AccountId& account) = 0;

  // Every event of the account, oldest first.
  virtual Result<std::vector<ConsentEvent>> History(const AccountId& account) = 0;
};

}  // namespace bgerase::store
