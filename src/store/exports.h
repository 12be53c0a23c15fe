// The layouts of what leaves the store in bulk, written once for every backend: the training
// dataset (TrainingPool::ExportDataset) and an account's own data (DataRights::ExportZip). The
// backends only say how to read their rows and blobs. Internal to src/store.
#pragma once

#include <filesystem>
#include <functional>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "common/status.h"
#include "store/api_key_store.h"
#include "store/blob_cipher.h"
#include "store/consent_ledger.h"
#include "store/training_pool.h"
#include "store/types.h"

namespace bgerase::store {

// An object's metadata with its key, as a backend reads it before fetching the ciphertext.
struct KeyedObject {
  ObjectInfo info;
  ObjectKey key{};
};

// One training item as a backend reads it, in one snapshot: its objects (input before mask) and
// their owner's current consent (unread, i.e. opted out, when there are no objects).
struct TrainingItemParts {
  std::vector<KeyedObject> objects;
  ConsentState owner_consent;
};

// How the dataset export reaches a backend's data.
struct DatasetSource {
  // Every training item id, oldest first.
  std::function<std::vector<ItemId>()> items;
  // The item's objects and its owner's consent; no objects when the item is gone.
  std::function<TrainingItemParts(const ItemId&)> parts;
  // The object's plaintext; "not_found" when it was deleted meanwhile.
  std::function<Result<Bytes>(const KeyedObject&)> read;
};
// TrainingPool::ExportDataset's contract (layout, manifest, never half an item) over any
// backend, with the per-item consent re-check: an item is written only if the grant that
// admitted it is still its owner's latest ledger event.
Result<DatasetExportReport> ExportDatasetTo(const std::filesystem::path& dir,
                                            const std::function<void(const ItemId&)>& after_item,
                                            const DatasetSource& source);

// What DataRights::ExportZip writes about an account besides its objects.
struct AccountExport {
  AccountId id;
  std::string email;
  Time created_at{};
  std::vector<ConsentEvent> consent_history;
  std::vector<ApiKeyInfo> api_keys;
  std::vector<KeyedObject> objects;  // live objects, in listing order
};
// DataRights::ExportZip over any backend: `account` comes with its row and live objects read;
// its consent history and keys are read here through `ledger` and `keys`, then the zip is
// written as WriteExportZip does. Wipes the keys in `account`.
Status ExportAccountZip(AccountExport& account, ConsentLedger& ledger, ApiKeyStore& keys, Time now,
                        const std::function<Result<Bytes>(const KeyedObject&)>& read,
                        std::ostream& out);
// DataRights::ExportZip's layout: objects/<id>.<ext> for each object `read` still finds, then
// data.json. Wipes the keys in `account` as it goes.
Status WriteExportZip(AccountExport& account, Time now,
                      const std::function<Result<Bytes>(const KeyedObject&)>& read,
                      std::ostream& out);

}  // namespace bgerase::store
