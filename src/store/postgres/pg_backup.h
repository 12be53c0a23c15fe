// Backup and restore of the shared store, in the same backup folder as the embedded one
// (store/backup.h), so a backup of either restores into either. Internal: users call
// BackupStore / RestoreStore.
#pragma once

#include <filesystem>
#include <string>

#include "common/status.h"
#include "store/backup.h"

namespace bgerase::store::postgres {

Result<BackupReport> Backup(const std::string& url, const std::filesystem::path& dir);

// Into a database with no accounts, consent events or objects yet (migrated first).
Result<BackupReport> Restore(const std::filesystem::path& dir, const std::string& url);

}  // namespace bgerase::store::postgres
