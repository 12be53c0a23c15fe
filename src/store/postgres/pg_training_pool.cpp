// TrainingPool on PostgreSQL. Inserts take the account row FOR SHARE, so a withdrawal in flight
// finishes first; the objects_training_needs_consent trigger checks consent again.
#include "store/consent_rules.h"
#include "store/exports.h"
#include "store/new_rows.h"
#include "store/postgres/pg_store.h"
#include "store/row_readers.h"

namespace bgerase::store::postgres {

namespace fs = std::filesystem;

Result<TrainingItemInfo> PgTrainingPool::AddItem(const NewTrainingItem& item) {
  return PgGuard([&]() -> Result<TrainingItemInfo> {
    auto made = NewTrainingObjects(item);
    if (!made.ok()) return made.status();
    std::vector<PendingObject>& pending = made.value();
    struct Wipe {
      std::vector<PendingObject>& pending;
      ~Wipe() {
        for (PendingObject& p : pending) WipeKey(p.key);
      }
    } wipe{pending};
    std::vector<Bytes> sealed;
    for (const PendingObject& p : pending) sealed.push_back(SealBlob(p.key, p.info.id, p.bytes));
    Status st = c_.pool->Run([&](pqxx::connection& conn) -> Status {
      pqxx::work tx(conn);
      // FOR SHARE waits for a withdrawal in flight; checked here for a clear error, and again by
      // the objects_training_needs_consent trigger.
      LockAccount(tx, item.owner, "FOR SHARE");
      BGERASE_RETURN_IF_ERROR(
          CheckTrainingConsent(CurrentConsent(tx, item.owner), item.consent_event_id));
      const Time now = c_.Now();
      for (std::size_t i = 0; i < pending.size(); ++i) {
        pending[i].info.created_at = now;
        InsertObject(tx, pending[i].info, pending[i].key, sealed[i]);
      }
      tx.commit();
      return Status::Ok();
    });
    if (!st.ok()) return st;
    return TrainingItemOf(pending);
  });
}

Result<DatasetExportReport> PgTrainingPool::ExportDataset(
    const fs::path& dir, const std::function<void(const ItemId&)>& after_item) {
  return PgGuard([&]() -> Result<DatasetExportReport> {
    DatasetSource source;
    source.items = [&] {
      return c_.pool->Run([&](pqxx::connection& conn) {
        pqxx::read_transaction tx(conn);
        std::vector<ItemId> items;
        for (const auto& row :
             tx.exec("SELECT item_id FROM objects WHERE purpose = 'training' GROUP BY item_id "
                     "ORDER BY min(created_at), item_id")) {
          items.push_back(row[0].as<std::string>());
        }
        return items;
      });
    };
    source.parts = [&](const ItemId& item) {
      return c_.pool->Run([&](pqxx::connection& conn) {
        pqxx::read_transaction tx(conn);
        TrainingItemParts parts;
        for (const auto& row :
             tx.exec_params(std::string("SELECT ") + kObjectInfoColumns +
                                ", object_key FROM objects WHERE item_id = $1 AND "
                                "purpose = 'training' ORDER BY kind",
                            item)) {
          parts.objects.push_back(ReadKeyedObject(PgRow(row)));
        }
        if (!parts.objects.empty()) {
          parts.owner_consent = CurrentConsent(tx, parts.objects[0].info.owner);
        }
        return parts;
      });
    };
    source.read = [&](const KeyedObject& p) { return ReadBlob(c_, p); };
    return ExportDatasetTo(dir, after_item, source);
  });
}

}  // namespace bgerase::store::postgres
