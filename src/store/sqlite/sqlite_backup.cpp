// Backup and restore of the embedded store (store/backup.h): an allow-list of tables copied row
// by row into a new database from one read snapshot, the training blobs beside it, a manifest.
#include "store/sqlite/sqlite_backup.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <system_error>
#include <vector>

#include "store/blob_folder.h"
#include "store/errors.h"
#include "store/sqlite/schema.h"
#include "store/sqlite/sqlite_db.h"

namespace bgerase::store::sqlite {
namespace fs = std::filesystem;
namespace {

constexpr char kFormat[] = "bgerase-backup";
constexpr int kFormatVersion = 1;
constexpr char kDbName[] = "bgerase.db";
constexpr char kManifestName[] = "manifest.json";

// Every table of the schema and which of its rows may outlive the retention window: `where` is a
// condition on the live table (alias t), nullptr for none. A table missing here fails the backup.
struct TableRule {
  const char* table;
  const char* where;
};
constexpr TableRule kTables[] = {
    {"accounts", "1"},
    {"api_keys", "1"},  // hashes and public prefixes only
    {"consent_events", "1"},
    {"usage_daily", "1"},
    {"credit_allowances", "1"},
    // Training objects whose owner's latest ledger event is the grant they name (the rule of the
    // objects_training_needs_consent trigger, which checks it again on insert). Never processing.
    {"objects",
     "t.purpose = 'training' AND t.consent_event_id = (SELECT max(c.id) FROM live.consent_events c "
     "WHERE c.account_id = t.owner) AND EXISTS (SELECT 1 FROM live.consent_events c WHERE c.id = "
     "t.consent_event_id AND c.action = 'grant')"},
    {"sessions", nullptr},        // sign-in tokens: a restored service asks for a new sign-in
    {"jobs", nullptr},            // they name processing objects and expire with them
    {"server_secrets", nullptr},  // the form key: a restored service makes a new one
    {"deletion_log", nullptr},    // names deleted processing objects; stays with its database
};

Status Io(const std::string& what, const fs::path& p, int err) {
  return Status(errors::kStorageError, what + " " + p.string() + ": " + std::strerror(err));
}

void FsyncPath(const fs::path& p, int flags) {
  const int fd = ::open(p.c_str(), flags | O_CLOEXEC);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}
void FsyncDir(const fs::path& dir) {
  FsyncPath(dir, O_RDONLY | O_DIRECTORY);
}

std::string HexDigest(crypto_hash_sha256_state& st) {
  unsigned char out[crypto_hash_sha256_BYTES];
  crypto_hash_sha256_final(&st, out);
  char hex[crypto_hash_sha256_BYTES * 2 + 1];
  sodium_bin2hex(hex, sizeof hex, out, sizeof out);
  return hex;
}

struct FileDigest {
  std::uint64_t size = 0;
  std::string sha256;
};

// Reads `from` (and, when `to` is not empty, writes it to `to`, which must not exist, mode 0600,
// fsynced) in one pass, hashing what it reads. ENOENT on `from` is "not_found".
Result<FileDigest> CopyAndHash(const fs::path& from, const fs::path& to) {
  const int in = ::open(from.c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0) {
    if (errno == ENOENT) return Status(errors::kNotFound, from.string() + " is missing");
    return Io("cannot open", from, errno);
  }
  int out = -1;
  if (!to.empty()) {
    out = ::open(to.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (out < 0) {
      const int err = errno;
      ::close(in);
      return Io("cannot create", to, err);
    }
  }
  crypto_hash_sha256_state st;
  crypto_hash_sha256_init(&st);
  FileDigest d;
  Status status;
  std::vector<unsigned char> buf(1 << 16);
  for (;;) {
    const ssize_t r = ::read(in, buf.data(), buf.size());
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      status = Io("cannot read", from, errno);
      break;
    }
    if (r == 0) break;
    crypto_hash_sha256_update(&st, buf.data(), static_cast<unsigned long long>(r));
    d.size += static_cast<std::uint64_t>(r);
    for (ssize_t done = 0; out >= 0 && done < r;) {
      const ssize_t w = ::write(out, buf.data() + done, static_cast<std::size_t>(r - done));
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) {
        status = Io("cannot write", to, errno);
        break;
      }
      done += w;
    }
    if (!status.ok()) break;
  }
  ::close(in);
  if (out >= 0) {
    if (status.ok() && ::fsync(out) != 0) status = Io("cannot sync", to, errno);
    ::close(out);
    if (!status.ok()) ::unlink(to.c_str());
  }
  if (!status.ok()) return status;
  d.sha256 = HexDigest(st);
  return d;
}

// `dir` missing (created 0700) or an empty folder (tightened to 0700).
Status PrepareBackupDir(const fs::path& dir) {
  std::error_code ec;
  if (fs::exists(dir, ec)) {
    if (!fs::is_directory(dir, ec)) {
      return Status("backup_dir_not_empty", dir.string() + " exists and is not a folder");
    }
    if (!fs::is_empty(dir, ec)) {
      return Status("backup_dir_not_empty",
                    dir.string() + " is not empty; back up into a new or empty folder");
    }
  } else {
    fs::create_directories(dir, ec);
    if (ec)
      return Status(errors::kStorageError, "cannot create " + dir.string() + ": " + ec.message());
  }
  fs::permissions(dir, fs::perms::owner_all, fs::perm_options::replace, ec);
  return Status::Ok();
}

// "INSERT INTO main.T (a, b) SELECT t.a, t.b FROM live.T t WHERE ...": the columns named, from
// the backup's own schema, so a column order that differs between the two cannot shift values.
std::string CopySql(SqliteDb& db, const TableRule& rule) {
  auto st = db.Prepare("SELECT name FROM pragma_table_info(?1, 'main')");
  st.Bind(1, rule.table);
  std::string cols, select;
  while (st.Step()) {
    const std::string quoted = "\"" + st.Text(0) + "\"";
    cols += (cols.empty() ? "" : ", ") + quoted;
    select += (select.empty() ? "t." : ", t.") + quoted;
  }
  return "INSERT INTO main." + std::string(rule.table) + " (" + cols + ") SELECT " + select +
         " FROM live." + rule.table + " t WHERE " + rule.where;
}

// Every table of the live database must have a rule.
Status CheckEveryTableClassified(SqliteDb& db) {
  std::set<std::string> known;
  for (const auto& r : kTables) known.insert(r.table);
  auto st = db.Prepare(
      "SELECT name FROM live.sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
      "ORDER BY name");
  while (st.Step()) {
    const std::string name = st.Text(0);
    if (!known.contains(name)) {
      return Status("backup_unclassified_table",
                    "table " + name +
                        " is neither backed up nor left out by the backup's rules "
                        "(store/sqlite/sqlite_backup.cpp); refusing to guess whether its rows may "
                        "outlive the retention window");
    }
  }
  return Status::Ok();
}

std::int64_t Count(SqliteDb& db, const char* table) {
  auto st = db.Prepare(std::string("SELECT count(*) FROM main.") + table);
  st.Step();
  return st.Int(0);
}

fs::path BlobRelative(const ObjectId& id) {
  return fs::path("blobs") / id.substr(4, 2) / id;
}

Status WriteManifest(const fs::path& dir, const nlohmann::json& manifest) {
  const fs::path tmp = dir / (std::string(kManifestName) + ".partial");
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << manifest.dump(2) << "\n";
    if (!out) return Io("cannot write", tmp, errno);
  }
  ::chmod(tmp.c_str(), 0600);
  FsyncPath(tmp, O_RDONLY);
  if (::rename(tmp.c_str(), (dir / kManifestName).c_str()) != 0)
    return Io("cannot rename", tmp, errno);
  FsyncDir(dir);
  return Status::Ok();
}

}  // namespace

Result<BackupReport> Backup(const fs::path& db_path, const fs::path& blob_root,
                            const fs::path& dir) {
  return Guard([&]() -> Result<BackupReport> {
    if (sodium_init() < 0) return Status(errors::kStorageError, "libsodium failed to initialise");
    std::error_code ec;
    if (!fs::exists(db_path, ec)) {
      return Status(errors::kNotFound,
                    "no database at " + db_path.string() + "; nothing to back up");
    }
    BGERASE_RETURN_IF_ERROR(PrepareBackupDir(dir));
    SqliteDb::Open(db_path);  // migrates the live database to this binary's schema first
    const fs::path partial = dir / (std::string(kDbName) + ".partial");
    auto db = SqliteDb::Open(partial);  // empty, this binary's schema
    db->Prepare("ATTACH DATABASE ?1 AS live").Bind(1, db_path.string()).Run();
    BGERASE_RETURN_IF_ERROR(CheckEveryTableClassified(*db));

    // One deferred transaction: the live database is only read, from one snapshot, so the
    // service keeps writing meanwhile; the backup's rows are written inside it.
    std::vector<ObjectId> objects;
    db->Exec("BEGIN");
    for (const auto& rule : kTables) {
      if (!rule.where) continue;
      db->Exec(CopySql(*db, rule).c_str());
    }
    {
      auto st = db->Prepare("SELECT id FROM main.objects ORDER BY id");
      while (st.Step()) objects.push_back(st.Text(0));
    }
    db->Exec("COMMIT");
    db->Exec("DETACH DATABASE live");

    BackupReport report;
    nlohmann::json files = nlohmann::json::array();
    BlobFolder live_blobs(blob_root);
    for (const ObjectId& id : objects) {
      if (!IsWellFormedObjectId(id)) return Status(errors::kDatabaseError, "bad object id " + id);
      const fs::path rel = BlobRelative(id);
      fs::create_directories((dir / rel).parent_path(), ec);
      auto d = CopyAndHash(live_blobs.PathFor(id), dir / rel);
      if (!d.ok() && d.status().code() == errors::kNotFound) {
        // Deleted since the snapshot (consent withdrawn, item deleted): its row goes too, and
        // secure_delete zeroes the key it held.
        db->Prepare("DELETE FROM objects WHERE id = ?1").Bind(1, id).Run();
        ++report.skipped_objects;
        continue;
      }
      if (!d.ok()) return d.status();
      files.push_back({{"path", rel.string()}, {"size", d->size}, {"sha256", d->sha256}});
      report.bytes += d->size;
    }
    for (const auto& e : fs::recursive_directory_iterator(dir / "blobs", ec)) {
      if (e.is_directory()) {
        fs::permissions(e.path(), fs::perms::owner_all, fs::perm_options::replace, ec);
        FsyncDir(e.path());
      }
    }

    report.accounts = static_cast<std::size_t>(Count(*db, "accounts"));
    report.api_keys = static_cast<std::size_t>(Count(*db, "api_keys"));
    report.consent_events = static_cast<std::size_t>(Count(*db, "consent_events"));
    report.usage_days = static_cast<std::size_t>(Count(*db, "usage_daily"));
    report.training_objects = static_cast<std::size_t>(Count(*db, "objects"));
    report.schema_version = static_cast<int>(Migrations().size());
    db->Exec("PRAGMA journal_mode=DELETE");  // one self-contained file
    db.reset();

    const fs::path final_db = dir / kDbName;
    if (::rename(partial.c_str(), final_db.c_str()) != 0)
      return Io("cannot rename", partial, errno);
    auto d = CopyAndHash(final_db, {});
    if (!d.ok()) return d.status();
    FsyncPath(final_db, O_RDONLY);
    files.push_back({{"path", kDbName}, {"size", d->size}, {"sha256", d->sha256}});
    report.bytes += d->size;

    const nlohmann::json manifest = {
        {"format", kFormat},
        {"format_version", kFormatVersion},
        {"schema_version", report.schema_version},
        {"created_at_ms",
         static_cast<std::int64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                       std::chrono::system_clock::now().time_since_epoch())
                                       .count())},
        {"counts",
         {{"accounts", report.accounts},
          {"api_keys", report.api_keys},
          {"consent_events", report.consent_events},
          {"usage_days", report.usage_days},
          {"training_objects", report.training_objects}}},
        {"files", files}};
    BGERASE_RETURN_IF_ERROR(WriteManifest(dir, manifest));
    return report;
  });
}

Result<BackupReport> Restore(const fs::path& dir, const fs::path& db_path,
                             const fs::path& blob_root) {
  if (sodium_init() < 0) return Status(errors::kStorageError, "libsodium failed to initialise");
  const auto invalid = [&](const std::string& why) {
    return Status("backup_invalid", dir.string() + ": " + why);
  };
  nlohmann::json manifest;
  {
    std::ifstream in(dir / kManifestName, std::ios::binary);
    if (!in) return invalid("no manifest.json: not a bgerase backup, or one that did not finish");
    manifest = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  }
  if (!manifest.is_object() || manifest.value("format", "") != kFormat ||
      !manifest["files"].is_array() || !manifest["schema_version"].is_number_integer()) {
    return invalid("manifest.json is not a bgerase backup manifest");
  }
  if (manifest.value("format_version", 0) > kFormatVersion) {
    return invalid("made by a newer bgerase (backup format " +
                   std::to_string(manifest.value("format_version", 0)) + ")");
  }
  const int schema = manifest["schema_version"].get<int>();
  if (schema < 1 || schema > static_cast<int>(Migrations().size())) {
    return invalid("database schema version " + std::to_string(schema) +
                   " is not one this bgerase understands");
  }
  std::error_code ec;
  if (fs::exists(db_path, ec)) {
    return Status("restore_target_exists",
                  db_path.string() + " exists; restore into a new data folder (or move it away)");
  }
  if (fs::exists(blob_root, ec) && !fs::is_empty(blob_root, ec)) {
    return Status("restore_target_exists",
                  blob_root.string() + " holds blobs; restore into a new data folder");
  }

  // Each file listed, checked while it is copied; on any failure everything copied goes again.
  std::vector<fs::path> written;
  const auto undo = [&](Status st) {
    for (const auto& p : written) ::unlink(p.c_str());
    return st;
  };
  bool has_db = false;
  for (const auto& f : manifest["files"]) {
    if (!f.is_object() || !f["path"].is_string() || !f["size"].is_number_unsigned() ||
        !f["sha256"].is_string()) {
      return undo(invalid("a file entry of manifest.json is malformed"));
    }
    const std::string rel = f["path"].get<std::string>();
    fs::path to;
    if (rel == kDbName) {
      has_db = true;
      to = db_path.string() + ".restoring";
    } else {
      const std::string id = fs::path(rel).filename().string();
      if (!IsWellFormedObjectId(id) || fs::path(rel) != BlobRelative(id)) {
        return undo(invalid("manifest.json names an unexpected file " + rel));
      }
      to = BlobFolder(blob_root).PathFor(id);
      fs::create_directories(to.parent_path(), ec);
      fs::permissions(blob_root, fs::perms::owner_all, fs::perm_options::replace, ec);
      fs::permissions(to.parent_path(), fs::perms::owner_all, fs::perm_options::replace, ec);
    }
    auto d = CopyAndHash(dir / rel, to);
    if (!d.ok()) {
      return undo(d.status().code() == errors::kNotFound ? invalid(rel + " is missing")
                                                         : d.status());
    }
    written.push_back(to);
    if (d->size != f["size"].get<std::uint64_t>() || d->sha256 != f["sha256"].get<std::string>()) {
      return undo(invalid(rel + " does not match manifest.json (changed or damaged)"));
    }
  }
  if (!has_db) return undo(invalid("manifest.json names no bgerase.db"));
  const fs::path restoring = db_path.string() + ".restoring";
  if (::rename(restoring.c_str(), db_path.c_str()) != 0)
    return undo(Io("cannot rename", restoring, errno));
  FsyncDir(db_path.has_parent_path() ? db_path.parent_path() : fs::path("."));

  BackupReport report;
  const auto& counts = manifest["counts"];
  const auto count = [&](const char* name) {
    return counts.is_object() ? counts.value(name, std::size_t{0}) : std::size_t{0};
  };
  report.accounts = count("accounts");
  report.api_keys = count("api_keys");
  report.consent_events = count("consent_events");
  report.usage_days = count("usage_days");
  report.training_objects = count("training_objects");
  report.schema_version = schema;
  for (const auto& f : manifest["files"]) report.bytes += f["size"].get<std::uint64_t>();
  return report;
}

}  // namespace bgerase::store::sqlite
