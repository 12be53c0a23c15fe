// The one place that decides what of an upload is stored, for what purpose and for how long
// (DESIGN.md: api/ calls this; nothing else writes uploads into the store).
//
//  * Nothing is stored unless the caller asked (`store_requested`) or the owner's consent to
//    training is active at upload time.
//  * Asked to store: the input (and result, if given) become `processing` objects that expire
//    after the store's retention (<= 24 h).
//  * Consent active: the input (and result as its mask) also become one training item, recording
//    the ledger event that allowed it. Opted-out accounts never reach the training pool.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "store/store.h"

namespace bgerase::store {

struct Upload {
  AccountId owner;
  ByteView input;
  std::string input_mime;
  std::optional<ByteView> result;  // what bgerase produced, if it is to be kept with the input
  std::string result_mime;
  std::optional<std::string> on_behalf_of;
  bool store_requested = false;  // the request's `store` flag
};

struct StoredUpload {
  std::vector<ObjectInfo> processing;        // empty unless store_requested
  std::optional<TrainingItemInfo> training;  // set only if consent was active
};

// Thread-safe; holds a reference to the store, which must outlive it.
class StoragePolicy {
 public:
  explicit StoragePolicy(Store& store) : store_(store) {}

  Result<StoredUpload> StoreUpload(const Upload& upload);

 private:
  Store& store_;
};

}  // namespace bgerase::store
