// Backups that keep the retention promise (`bgerase admin backup` / `admin restore`).
//
// A backup holds only what may outlive the retention window: accounts, API key hashes, the
// consent ledger, usage and credit allowances, and the training items whose owners' consent is
// active, with their keys and ciphertext. It never holds a processing object, its key or its
// blob, a job, a session or the deployment's form key. It is built by copying an allow-list of
// tables row by row into a new database, never by copying the file and deleting from it, so
// nothing deleted can linger in free pages; a table the list does not name fails the backup
// ("backup_unclassified_table") until someone decides whether it may outlive 24 hours.
//
// Layout of a backup folder (mode 0700, files 0600):
//   bgerase.db                      the SQLite database (one file, rollback journal mode)
//   blobs/<2 hex>/<object id>       each training object's ciphertext, as in a data folder
//   manifest.json                   written last: format, schema version, counts, and every
//                                   file's size and sha256
// Both backends write the same folder (the database in it is SQLite either way), so a backup of
// either restores into either: the way from the embedded store to a shared PostgreSQL one.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>

#include "common/status.h"
#include "store/store.h"

namespace bgerase::store {

struct BackupReport {
  std::size_t accounts = 0;
  std::size_t api_keys = 0;
  std::size_t consent_events = 0;
  std::size_t usage_days = 0;
  std::size_t training_objects = 0;
  // Training objects deleted (consent withdrawn, item deleted) while the backup ran: left out.
  std::size_t skipped_objects = 0;
  std::uint64_t bytes = 0;  // the backup's files, the manifest aside
  int schema_version = 0;
  std::int64_t created_at_ms = 0;  // when the backup was made (Unix ms, the writer's clock)
};

// Writes a backup of the store `options` names into `dir`, which must be missing or empty.
// The live store keeps serving: rows come from one read snapshot (SQLite: a deferred read
// transaction; PostgreSQL: REPEATABLE READ, READ ONLY). Errors: "backup_dir_not_empty",
// "not_found" (no SQLite database), "backup_unclassified_table", "storage_error",
// "database_error", "store_unavailable".
Result<BackupReport> BackupStore(const StoreOptions& options, const std::filesystem::path& dir);

// Restores the backup in `dir` into the store `target` names, which must not exist yet: a new
// data folder (or a sqlite: path with no file), or a PostgreSQL database without accounts,
// consent events or objects. Every file is checked against the manifest before anything is kept
// (PostgreSQL: in one transaction that commits only if all are); an older backup is migrated.
// Errors: "backup_invalid" (no manifest, or a file missing or changed), "restore_target_exists",
// "storage_error", "database_error", "store_unavailable".
Result<BackupReport> RestoreStore(const std::filesystem::path& dir, const StoreOptions& target);

}  // namespace bgerase::store
