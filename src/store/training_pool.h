// The training pool: images whose owners opted in to model improvement (promises 2 and 4 in
// docs/design/privacy.md).
//
// This interface is the only way into the pool and ExportDataset is the only way out of it;
// ObjectStore::Get refuses training objects. (The owner's own data export, DataRights::ExportZip,
// also returns them to their owner — that is the owner reading their data, not a use of it.)
#pragma once

#include <cstddef>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>

#include "common/status.h"
#include "store/types.h"

namespace bgerase::store {

struct NewTrainingItem {
  AccountId owner;
  // The ledger event (a grant) that allows this item. It must be the owner's latest event at
  // the moment of insertion, checked in the same transaction as the insert.
  ConsentEventId consent_event_id = 0;
  std::optional<std::string> on_behalf_of;
  ByteView input;
  std::string input_mime;
  std::optional<ByteView> mask;  // alpha mask or cut-out paired with the input, when known
  std::string mask_mime;
};

struct TrainingItemInfo {
  ItemId item_id;
  ObjectInfo input;
  std::optional<ObjectInfo> mask;
};

struct DatasetExportReport {
  std::size_t items_written = 0;
  std::size_t items_skipped = 0;  // consent withdrawn or item deleted during the export
};

// Thread-safe.
class TrainingPool {
 public:
  virtual ~TrainingPool() = default;

  // Adds an item (input + optional mask as two training objects sharing an item id). Fails with
  // "consent_not_active" unless `consent_event_id` is the owner's latest ledger event and a grant,
  // so an upload that races a withdrawal can never land in the pool.
  virtual Result<TrainingItemInfo> AddItem(const NewTrainingItem& item) = 0;

  // Writes every training item whose owner's consent is active into `dir` (created if missing;
  // must be empty): "<item>.image.<ext>", "<item>.mask.<ext>" and one line per item in
  // manifest.jsonl. Consent is re-checked for each item just before it is read, so a withdrawal
  // during an export stops that owner's items from being written. `after_item`, when set, is
  // called after each written item (progress; tests use it to interleave withdrawals).
  // Errors: "export_dir_not_empty", "storage_error".
  virtual Result<DatasetExportReport> ExportDataset(
      const std::filesystem::path& dir,
      const std::function<void(const ItemId&)>& after_item = nullptr) = 0;
};

}  // namespace bgerase::store
