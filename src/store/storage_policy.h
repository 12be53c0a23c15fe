// The one place that decides what of an upload is stored, for what purpose and for how long
// (api/ calls this; nothing else writes uploads into the store).
//
//  * Nothing is stored unless the caller asked (`store_requested`) or the owner's consent to
//    training is active at upload time.
//  * Asked to store: the input (and result, if given) become `processing` objects that expire
//    after the store's retention (<= 24 h).
//  * An async job's input is kept from acceptance (the caller asked for a result later), with
//    the same retention; its result joins the same item when the job is done.
//  * Consent active when the upload arrived (`received_at`) and still active: the input (and
//    result as its mask) also become one training item, recording the ledger event that allowed
//    it. Opted-out accounts never reach the training pool.
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
  // Set when the input is already kept (an async job's, see StoreInput): only the result is
  // added to its item, and the input is not stored a second time.
  std::optional<ObjectInfo> stored_input;
  // When the upload arrived (store clock). Only consent granted at or before this instant admits
  // it to the training pool: an image that waited (an async job, a slow inference) while its
  // owner opted in was uploaded opted out. Unset: the stored input's created_at, else now.
  std::optional<Time> received_at;
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

  // An async job's input: kept as a `processing` object (it expires with the retention rule like
  // everything the caller asks to keep) so that whichever replica claims the job can read it.
  // Once the job is done, StoreUpload with `stored_input` set adds the result to its item.
  Result<ObjectInfo> StoreInput(const AccountId& owner, ByteView input, std::string mime,
                                std::optional<std::string> on_behalf_of);

 private:
  Store& store_;
};

}  // namespace bgerase::store
