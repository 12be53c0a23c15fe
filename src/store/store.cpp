// OpenStore: picks the backend from the database URL.
#include "store/store.h"

#include <cstdio>
#include <system_error>

#include "store/backup.h"
#include "store/errors.h"
#include "store/postgres/pg_backup.h"
#include "store/postgres/pg_store.h"
#include "store/sqlite/sqlite_backup.h"
#include "store/sqlite/sqlite_store.h"

namespace bgerase::store {
namespace fs = std::filesystem;

namespace {

bool IsPostgresUrl(const std::string& url) {
  return url.starts_with("postgres://") || url.starts_with("postgresql://");
}

// The SQLite file named by the options, or an error for URLs this build cannot serve. Not called
// for PostgreSQL URLs.
Result<fs::path> SqlitePath(const StoreOptions& options) {
  const std::string& url = options.database_url;
  if (url.empty()) return options.data_dir / "bgerase.db";
  if (url.starts_with("sqlite:")) {
    std::string path = url.substr(7);
    if (path.starts_with("//")) path = path.substr(2);  // sqlite:///abs/path
    if (path.empty()) return Status(errors::kUnsupportedDatabase, "sqlite: URL without a path");
    return fs::path(path);
  }
  return Status(errors::kUnsupportedDatabase,
                "unrecognised database URL '" + url +
                    "' (expected sqlite:PATH, postgres://... or postgresql://...)");
}

}  // namespace

Result<StoreOptions> StoreOptionsFromFlags(const std::string& data_dir,
                                           const std::string& database_url,
                                           const std::string& retention) {
  StoreOptions options;
  if (!data_dir.empty()) options.data_dir = data_dir;
  options.database_url = database_url;
  if (!retention.empty()) {
    auto r = RetentionPolicy::Parse(retention);
    if (!r.ok()) return r.status();
    options.retention = *r;
  }
  if (IsPostgresUrl(options.database_url)) return options;
  auto path = SqlitePath(options);
  if (!path.ok()) return path.status();
  return options;
}

Result<std::unique_ptr<Store>> OpenStore(const StoreOptions& options) {
  // Replicas share no filesystem: with PostgreSQL the database holds the ciphertext too, and the
  // data folder is not used.
  if (IsPostgresUrl(options.database_url)) {
    return postgres::PgStore::Open(options, options.database_url);
  }
  auto path = SqlitePath(options);
  if (!path.ok()) return path.status();
  std::error_code ec;
  const bool existed = fs::exists(options.data_dir, ec);
  fs::create_directories(options.data_dir, ec);
  if (ec) {
    return Status(errors::kStorageError,
                  "cannot create data folder " + options.data_dir.string() + ": " + ec.message());
  }
  // A new data folder is private to the service's user; an existing one keeps what the operator
  // chose.
  if (!existed) {
    fs::permissions(options.data_dir, fs::perms::owner_all, fs::perm_options::replace, ec);
  } else {
    const auto perms = fs::status(options.data_dir, ec).permissions();
    if (!ec && (perms & (fs::perms::group_all | fs::perms::others_all)) != fs::perms::none) {
      std::fprintf(stderr,
                   "bgerase: warning: data folder %s can be read by other users; its files are "
                   "0600, but `chmod 700` it\n",
                   options.data_dir.c_str());
    }
  }
  if (path->has_parent_path()) fs::create_directories(path->parent_path(), ec);
  return sqlite::SqliteStore::Open(options, *path);
}

Result<BackupReport> BackupStore(const StoreOptions& options, const fs::path& dir) {
  Result<fs::path> path = fs::path();
  if (!IsPostgresUrl(options.database_url)) {
    path = SqlitePath(options);
    if (!path.ok()) return path.status();
  }
  std::error_code ec;
  const bool existed = fs::exists(dir, ec);
  const bool was_empty = existed && fs::is_directory(dir, ec) && fs::is_empty(dir, ec);
  auto report = IsPostgresUrl(options.database_url)
                    ? postgres::Backup(options.database_url, dir)
                    : sqlite::Backup(*path, options.data_dir / "blobs", dir);
  // A backup that failed leaves nothing behind (no manifest, no half a database) in a folder it
  // found missing or empty; anything else was not its to touch.
  if (!report.ok() && (!existed || was_empty)) {
    if (existed) {
      for (const auto& e : fs::directory_iterator(dir, ec)) fs::remove_all(e.path(), ec);
    } else {
      fs::remove_all(dir, ec);
    }
  }
  return report;
}

Result<BackupReport> RestoreStore(const fs::path& dir, const StoreOptions& target) {
  if (IsPostgresUrl(target.database_url)) return postgres::Restore(dir, target.database_url);
  auto path = SqlitePath(target);
  if (!path.ok()) return path.status();
  std::error_code ec;
  if (!fs::exists(target.data_dir, ec)) {
    fs::create_directories(target.data_dir, ec);
    if (ec) {
      return Status(errors::kStorageError,
                    "cannot create data folder " + target.data_dir.string() + ": " + ec.message());
    }
    fs::permissions(target.data_dir, fs::perms::owner_all, fs::perm_options::replace, ec);
  }
  if (path->has_parent_path()) fs::create_directories(path->parent_path(), ec);
  auto report = sqlite::Restore(dir, *path, target.data_dir / "blobs");
  if (!report.ok()) return report;
  // Opening migrates a backup an older bgerase made, and checks the result is a usable store.
  StoreOptions open = target;
  open.run_reaper = false;
  auto store = OpenStore(open);
  if (!store.ok()) return store.status();
  return report;
}

}  // namespace bgerase::store
