// What a customer can do with everything held about them (promise 4 in docs/design/privacy.md): see
// it, take it, delete it, delete the account.
#pragma once

#include <cstddef>
#include <ostream>
#include <vector>

#include "common/status.h"
#include "store/consent_ledger.h"
#include "store/types.h"

namespace bgerase::store {

// Thread-safe.
class DataRights {
 public:
  virtual ~DataRights() = default;

  // Every live object held for the account, processing and training, oldest first, each with
  // its expires_at (empty only for training objects).
  virtual Result<std::vector<ObjectInfo>> ListHeldData(const AccountId& account) = 0;

  // Deletes every object of the account now (reason owner_request). Consent is left as it is.
  virtual Result<std::size_t> DeleteAllData(const AccountId& account) = 0;

  // Deletes every live object of one of the account's items now (reason owner_request), whatever
  // its purpose, in one transaction: on any failure none is deleted. Returns how many were.
  // "not_found" when the account holds no live object in the item, which is also the answer for
  // another account's item (nothing of it is touched). Jobs are left to expire.
  virtual Result<std::size_t> DeleteItem(const AccountId& account, const ItemId& item) = 0;

  // Writes a zip (stored entries) to `out`: data.json (account, consent history, keys' public
  // prefixes, items) and objects/<id>.<ext> for every live object.
  virtual Status ExportZip(const AccountId& account, std::ostream& out) = 0;

  // Deletes the account: objects (reason account_deleted), keys, sessions, jobs and the account
  // row with its email, in one transaction. If consent was active a withdrawal is appended first.
  // What remains are ledger and deletion-log rows carrying only the opaque account id, which no
  // longer leads to a person.
  virtual Status DeleteAccount(const AccountId& account, ConsentActor actor) = 0;
};

}  // namespace bgerase::store
