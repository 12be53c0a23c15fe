// TrainingPool on SQLite + the blob folder. As for objects, a blob is written before its row
// commits and the rows of one item commit together.
#include "store/consent_rules.h"
#include "store/exports.h"
#include "store/new_rows.h"
#include "store/row_readers.h"
#include "store/sqlite/sqlite_store.h"

namespace bgerase::store::sqlite {

namespace fs = std::filesystem;

Result<TrainingItemInfo> SqliteTrainingPool::AddItem(const NewTrainingItem& item) {
  return Guard([&]() -> Result<TrainingItemInfo> {
    auto made = NewTrainingObjects(item);
    if (!made.ok()) return made.status();
    std::vector<PendingObject>& pending = made.value();
    auto discard = [&] {
      for (PendingObject& p : pending) {
        WipeKey(p.key);
        c_.blobs.Remove(p.info.id);
      }
    };
    for (PendingObject& p : pending) {
      Status st = c_.blobs.Write(p.info.id, p.key, p.bytes);
      if (!st.ok()) {
        discard();
        return st;
      }
    }
    try {
      std::lock_guard lock(c_.db->mutex());
      Transaction tx(*c_.db);
      // Checked here for a clear error; the objects_training_needs_consent trigger checks again.
      Status consent =
          CheckTrainingConsent(c_.CurrentConsentLocked(item.owner), item.consent_event_id);
      if (!consent.ok()) throw DbError(consent);
      const Time now = c_.Now();
      for (PendingObject& p : pending) {
        p.info.created_at = now;
        c_.InsertObjectLocked(p.info, p.key);
      }
      tx.Commit();
    } catch (...) {
      discard();
      throw;
    }
    for (PendingObject& p : pending) WipeKey(p.key);
    return TrainingItemOf(pending);
  });
}

Result<DatasetExportReport> SqliteTrainingPool::ExportDataset(
    const fs::path& dir, const std::function<void(const ItemId&)>& after_item) {
  return Guard([&]() -> Result<DatasetExportReport> {
    DatasetSource source;
    source.items = [&] {
      std::vector<ItemId> items;
      std::lock_guard lock(c_.db->mutex());
      auto q = c_.db->Prepare(
          "SELECT item_id FROM objects WHERE purpose = 'training' GROUP BY item_id "
          "ORDER BY min(created_at), item_id");
      while (q.Step()) items.push_back(q.Text(0));
      return items;
    };
    source.parts = [&](const ItemId& item) {
      TrainingItemParts parts;
      std::lock_guard lock(c_.db->mutex());
      auto q = c_.db->Prepare(std::string("SELECT ") + kObjectInfoColumns +
                              ", object_key FROM objects WHERE item_id = ?1 AND "
                              "purpose = 'training' ORDER BY kind");
      q.Bind(1, item);
      while (q.Step()) parts.objects.push_back(ReadKeyedObject(q));
      if (!parts.objects.empty()) {
        parts.owner_consent = c_.CurrentConsentLocked(parts.objects[0].info.owner);
      }
      return parts;
    };
    source.read = [&](const KeyedObject& p) { return c_.blobs.Read(p.info.id, p.key); };
    return ExportDatasetTo(dir, after_item, source);
  });
}

}  // namespace bgerase::store::sqlite
