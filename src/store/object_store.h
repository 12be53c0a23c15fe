// Stored images for processing: uploads kept on request, results, job artefacts.
//
// The retention contract (promises 3 and 5 and the data lifecycle in docs/design/privacy.md):
//  * Every object written here has purpose `processing` and expires at created_at + retention,
//    where retention is the store's RetentionPolicy (24 h by default, never more).
//  * From the instant now >= expires_at the object does not exist for any reader: Get answers
//    "not_found" and listings omit it, whether or not the reaper has reached it yet.
//  * The reaper (see reaper.h) deletes expired objects when the store opens — before OpenStore
//    returns — and then continuously, waking at the next expires_at and at least once a minute.
//  * Deleting an object removes its row and with it the object's key, then unlinks its blob file.
//    Each object's bytes are encrypted with its own random key (XChaCha20-Poly1305) that exists
//    only in the row, so a surviving copy of the blob folder cannot be decrypted.
//  * Every deletion, whatever its reason, appends a line (id, owner, purpose, reason, time — no
//    content) to the deletion log.
//
// Training objects are not written or read here; see training_pool.h.
#pragma once

#include <optional>
#include <string>

#include "common/status.h"
#include "store/types.h"

namespace bgerase::store {

struct NewObject {
  AccountId owner;
  ObjectKind kind = ObjectKind::kInput;
  ItemId item_id;  // empty: a new item; else the item this object belongs to (e.g. the result
                   // of an upload stored a moment before)
  std::string mime;
  std::optional<std::string> on_behalf_of;
  ByteView bytes;  // borrowed for the duration of the call
};

// Thread-safe. Concurrent Put/Get/Delete and the reaper never lose, resurrect or half-read an
// object: Get returns the exact bytes that were Put, or "not_found".
class ObjectStore {
 public:
  virtual ~ObjectStore() = default;

  // Encrypts and stores `object` for the owner (who must exist: "not_found" otherwise).
  // The returned info carries the id and expires_at. Joining an existing item (`item_id` set),
  // the object expires no later than the item's earliest live object, and an item with no live
  // processing object left (deleted, expired) is "not_found" — nothing is added back to it.
  virtual Result<ObjectInfo> Put(const NewObject& object) = 0;

  // The object's plaintext, only for its owner and only while it is live. Any other case —
  // unknown id, another owner, expired, a training object — is "not_found".
  virtual Result<StoredObject> Get(const AccountId& owner, const ObjectId& id) = 0;

  // Deletes one of the owner's objects now (any purpose). "not_found" if it does not exist.
  virtual Status Delete(const AccountId& owner, const ObjectId& id) = 0;
};

}  // namespace bgerase::store
