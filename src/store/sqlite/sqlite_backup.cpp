// Backup and restore of the embedded store (store/backup.h): the live database attached to the
// backup's, the allowed rows copied from one read snapshot, the training blobs copied beside it.
#include "store/sqlite/sqlite_backup.h"

#include <unistd.h>

#include <string>
#include <system_error>
#include <vector>

#include "store/blob_folder.h"
#include "store/errors.h"
#include "store/sqlite/backup_folder.h"
#include "store/sqlite/sqlite_db.h"

namespace bgerase::store::sqlite {
namespace fs = std::filesystem;
namespace {

// "INSERT INTO main.T (a, b) SELECT t.a, t.b FROM live.T t WHERE ...": the columns named, from
// the backup's own schema, so a column order that differs between the two cannot shift values.
std::string CopySql(SqliteDb& db, const TableRule& rule) {
  std::string cols, select;
  for (const std::string& c : TableColumns(db, rule.table)) {
    cols += (cols.empty() ? "\"" : ", \"") + c + "\"";
    select += (select.empty() ? "t.\"" : ", t.\"") + c + "\"";
  }
  return "INSERT INTO main." + std::string(rule.table) + " (" + cols + ") SELECT " + select +
         " FROM live." + rule.table + " t WHERE " + RuleCondition(rule, "live.");
}

}  // namespace

Result<BackupReport> Backup(const fs::path& db_path, const fs::path& blob_root,
                            const fs::path& dir) {
  std::error_code ec;
  if (!fs::exists(db_path, ec)) {
    return Status(errors::kNotFound, "no database at " + db_path.string() + "; nothing to back up");
  }
  auto writer = BackupWriter::Create(dir);
  if (!writer.ok()) return writer.status();
  BackupWriter& w = **writer;
  std::size_t skipped = 0;
  BGERASE_RETURN_IF_ERROR(Guard([&]() -> Status {
    SqliteDb::Open(db_path);  // migrates the live database to this binary's schema first
    SqliteDb& db = w.db();
    db.Prepare("ATTACH DATABASE ?1 AS live").Bind(1, db_path.string()).Run();
    std::vector<std::string> tables;
    {
      auto st = db.Prepare(
          "SELECT name FROM live.sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'");
      while (st.Step()) tables.push_back(st.Text(0));
    }
    BGERASE_RETURN_IF_ERROR(CheckEveryTableClassified(tables));
    // One deferred transaction: the live database is only read, from one snapshot, so the
    // service keeps writing meanwhile.
    db.Exec("BEGIN");
    for (const auto& rule : BackupRules()) {
      if (rule.where) db.Exec(CopySql(db, rule).c_str());
    }
    db.Exec("COMMIT");
    db.Exec("DETACH DATABASE live");
    const BlobFolder live_blobs(blob_root);
    for (const ObjectId& id : w.ObjectIds()) {
      Status st = w.CopyBlob(id, live_blobs.PathFor(id));
      if (st.code() == errors::kNotFound) {
        // Deleted since the snapshot (consent withdrawn, item deleted): its row goes too.
        w.DropObject(id);
        ++skipped;
        continue;
      }
      BGERASE_RETURN_IF_ERROR(st);
    }
    return Status::Ok();
  }));
  return w.Finish(skipped);
}

Result<BackupReport> Restore(const fs::path& dir, const fs::path& db_path,
                             const fs::path& blob_root) {
  auto reader = BackupReader::Open(dir);
  if (!reader.ok()) return reader.status();
  std::error_code ec;
  if (fs::exists(db_path, ec)) {
    return Status("restore_target_exists",
                  db_path.string() + " exists; restore into a new data folder (or move it away)");
  }
  if (fs::exists(blob_root, ec) && !fs::is_empty(blob_root, ec)) {
    return Status("restore_target_exists",
                  blob_root.string() + " holds blobs; restore into a new data folder");
  }
  // Each file checked while it is copied; on any failure everything copied goes again. The
  // database is renamed into place last, so a store exists only once all of it is there.
  std::vector<fs::path> written;
  const auto undo = [&](Status st) {
    for (const auto& p : written) ::unlink(p.c_str());
    return st;
  };
  const fs::path restoring = db_path.string() + ".restoring";
  const BlobFolder blobs(blob_root);
  for (const auto& file : reader->files()) {
    fs::path to = restoring;
    if (!file.object.empty()) {
      to = blobs.PathFor(file.object);
      fs::create_directories(to.parent_path(), ec);
      fs::permissions(blob_root, fs::perms::owner_all, fs::perm_options::replace, ec);
      fs::permissions(to.parent_path(), fs::perms::owner_all, fs::perm_options::replace, ec);
    }
    if (Status st = reader->CopyVerified(file, to); !st.ok()) return undo(st);
    written.push_back(to);
  }
  if (::rename(restoring.c_str(), db_path.c_str()) != 0) {
    return undo(Status(errors::kStorageError, "cannot rename " + restoring.string()));
  }
  return reader->Report();
}

}  // namespace bgerase::store::sqlite
