// Backup and restore of the embedded store; the contract is in store/backup.h. Internal: users
// call BackupStore / RestoreStore, which resolve the paths.
#pragma once

#include <filesystem>

#include "common/status.h"
#include "store/backup.h"

namespace bgerase::store::sqlite {

// `db_path` is the live database, `blob_root` its blob folder (DATA/blobs).
Result<BackupReport> Backup(const std::filesystem::path& db_path,
                            const std::filesystem::path& blob_root,
                            const std::filesystem::path& dir);

// Writes the backup in `dir` as the database `db_path` and the blob folder `blob_root`.
Result<BackupReport> Restore(const std::filesystem::path& dir, const std::filesystem::path& db_path,
                             const std::filesystem::path& blob_root);

}  // namespace bgerase::store::sqlite
