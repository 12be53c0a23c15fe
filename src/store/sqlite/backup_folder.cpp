// The backup folder: rules, writer and reader (backup_folder.h).
#include "store/sqlite/backup_folder.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <system_error>

#include "store/blob_folder.h"
#include "store/errors.h"
#include "store/sqlite/schema.h"

namespace bgerase::store::sqlite {
namespace fs = std::filesystem;
namespace {

constexpr char kFormat[] = "bgerase-backup";
constexpr int kFormatVersion = 1;
constexpr char kDbName[] = "bgerase.db";
constexpr char kManifestName[] = "manifest.json";

constexpr TableRule kTables[] = {
    {"accounts", "1 = 1"},
    {"api_keys", "1 = 1"},  // hashes and public prefixes only
    {"consent_events", "1 = 1"},
    {"usage_daily", "1 = 1"},
    {"credit_allowances", "1 = 1"},
    // Training objects whose owner's latest ledger event is the grant they name (the rule of the
    // objects_training_needs_consent trigger, which checks it again on insert). Never processing.
    {"objects",
     "t.purpose = 'training' AND t.consent_event_id = (SELECT max(c.id) FROM {src}consent_events "
     "c WHERE c.account_id = t.owner) AND EXISTS (SELECT 1 FROM {src}consent_events c WHERE c.id "
     "= t.consent_event_id AND c.action = 'grant')"},
    {"blobs", nullptr},              // PostgreSQL's ciphertext: the training objects' go to files
    {"sessions", nullptr},           // sign-in tokens: a restored service asks for a new sign-in
    {"jobs", nullptr},               // they name processing objects and expire with them
    {"server_secrets", nullptr},     // the form key: a restored service makes a new one
    {"deletion_log", nullptr},       // names deleted processing objects; stays with its database
    {"schema_migrations", nullptr},  // PostgreSQL's migration record; the backup has its own
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

Status WriteAll(int fd, const unsigned char* data, std::size_t n, const fs::path& p) {
  while (n > 0) {
    const ssize_t w = ::write(fd, data, n);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return Io("cannot write", p, errno);
    data += w;
    n -= static_cast<std::size_t>(w);
  }
  return Status::Ok();
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
    if (ec) {
      return Status(errors::kStorageError, "cannot create " + dir.string() + ": " + ec.message());
    }
  }
  fs::permissions(dir, fs::perms::owner_all, fs::perm_options::replace, ec);
  return Status::Ok();
}

fs::path BlobRelative(const ObjectId& id) {
  return fs::path("blobs") / id.substr(4, 2) / id;
}

}  // namespace

std::span<const TableRule> BackupRules() {
  return kTables;
}

std::string RuleCondition(const TableRule& rule, const std::string& src) {
  std::string out = rule.where ? rule.where : "1 = 0";
  for (std::size_t at; (at = out.find("{src}")) != std::string::npos;) out.replace(at, 5, src);
  return out;
}

Status CheckEveryTableClassified(const std::vector<std::string>& live_tables) {
  std::set<std::string> known;
  for (const auto& r : kTables) known.insert(r.table);
  for (const std::string& name : live_tables) {
    if (!known.contains(name)) {
      return Status("backup_unclassified_table",
                    "table " + name +
                        " is neither backed up nor left out by the backup's rules "
                        "(store/sqlite/backup_folder.cpp); refusing to guess whether its rows may "
                        "outlive the retention window");
    }
  }
  return Status::Ok();
}

std::vector<std::string> TableColumns(SqliteDb& db, const std::string& table) {
  auto st = db.Prepare("SELECT name FROM pragma_table_info(?1, 'main')");
  st.Bind(1, table);
  std::vector<std::string> cols;
  while (st.Step()) cols.push_back(st.Text(0));
  return cols;
}

Result<FileDigest> CopyAndHash(const fs::path& from, const fs::path& to) {
  if (sodium_init() < 0) return Status(errors::kStorageError, "libsodium failed to initialise");
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
    if (r < 0) status = Io("cannot read", from, errno);
    if (r <= 0) break;
    crypto_hash_sha256_update(&st, buf.data(), static_cast<unsigned long long>(r));
    d.size += static_cast<std::uint64_t>(r);
    if (out >= 0) status = WriteAll(out, buf.data(), static_cast<std::size_t>(r), to);
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

// ---- BackupWriter ----

Result<std::unique_ptr<BackupWriter>> BackupWriter::Create(const fs::path& dir) {
  BGERASE_RETURN_IF_ERROR(PrepareBackupDir(dir));
  return Guard([&]() -> Result<std::unique_ptr<BackupWriter>> {
    auto db = SqliteDb::Open(dir / (std::string(kDbName) + ".partial"));
    return std::unique_ptr<BackupWriter>(new BackupWriter(dir, std::move(db)));
  });
}

BackupWriter::~BackupWriter() = default;

std::vector<ObjectId> BackupWriter::ObjectIds() {
  std::vector<ObjectId> ids;
  auto st = db_->Prepare("SELECT id FROM main.objects ORDER BY id");
  while (st.Step()) ids.push_back(st.Text(0));
  return ids;
}

void BackupWriter::DropObject(const ObjectId& id) {
  db_->Prepare("DELETE FROM main.objects WHERE id = ?1").Bind(1, id).Run();
}

Status BackupWriter::Record(const fs::path& rel, const FileDigest& d) {
  files_.emplace_back(rel.string(), d);
  return Status::Ok();
}

Status BackupWriter::CopyBlob(const ObjectId& id, const fs::path& from) {
  if (!IsWellFormedObjectId(id)) return Status(errors::kDatabaseError, "bad object id " + id);
  const fs::path rel = BlobRelative(id);
  std::error_code ec;
  fs::create_directories((dir_ / rel).parent_path(), ec);
  fs::permissions((dir_ / rel).parent_path(), fs::perms::owner_all, fs::perm_options::replace, ec);
  fs::permissions(dir_ / "blobs", fs::perms::owner_all, fs::perm_options::replace, ec);
  auto d = CopyAndHash(from, dir_ / rel);
  if (!d.ok()) return d.status();
  return Record(rel, *d);
}

Status BackupWriter::AddBlob(const ObjectId& id, ByteView ciphertext) {
  if (!IsWellFormedObjectId(id)) return Status(errors::kDatabaseError, "bad object id " + id);
  const fs::path rel = BlobRelative(id);
  const fs::path path = dir_ / rel;
  std::error_code ec;
  fs::create_directories(path.parent_path(), ec);
  fs::permissions(path.parent_path(), fs::perms::owner_all, fs::perm_options::replace, ec);
  fs::permissions(dir_ / "blobs", fs::perms::owner_all, fs::perm_options::replace, ec);
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return Io("cannot create", path, errno);
  Status st = WriteAll(fd, ciphertext.data(), ciphertext.size(), path);
  if (st.ok() && ::fsync(fd) != 0) st = Io("cannot sync", path, errno);
  ::close(fd);
  if (!st.ok()) return st;
  auto d = CopyAndHash(path, {});
  if (!d.ok()) return d.status();
  return Record(rel, *d);
}

Result<BackupReport> BackupWriter::Finish(std::size_t skipped_objects) {
  return Guard([&]() -> Result<BackupReport> {
    BackupReport report;
    const auto count = [&](const char* table) {
      auto st = db_->Prepare(std::string("SELECT count(*) FROM main.") + table);
      st.Step();
      return static_cast<std::size_t>(st.Int(0));
    };
    report.accounts = count("accounts");
    report.api_keys = count("api_keys");
    report.consent_events = count("consent_events");
    report.usage_days = count("usage_daily");
    report.training_objects = count("objects");
    report.skipped_objects = skipped_objects;
    report.schema_version = static_cast<int>(Migrations().size());
    db_->Exec("PRAGMA journal_mode=DELETE");  // one self-contained file
    db_.reset();
    for (const auto& e : fs::recursive_directory_iterator(dir_)) {
      if (e.is_directory()) FsyncDir(e.path());
    }

    const fs::path partial = dir_ / (std::string(kDbName) + ".partial");
    const fs::path final_db = dir_ / kDbName;
    if (::rename(partial.c_str(), final_db.c_str()) != 0)
      return Io("cannot rename", partial, errno);
    auto d = CopyAndHash(final_db, {});
    if (!d.ok()) return d.status();
    BGERASE_RETURN_IF_ERROR(Record(kDbName, *d));

    nlohmann::json files = nlohmann::json::array();
    for (const auto& [path, digest] : files_) {
      files.push_back({{"path", path}, {"size", digest.size}, {"sha256", digest.sha256}});
      report.bytes += digest.size;
    }
    report.created_at_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count();
    const nlohmann::json manifest = {{"format", kFormat},
                                     {"format_version", kFormatVersion},
                                     {"schema_version", report.schema_version},
                                     {"created_at_ms", report.created_at_ms},
                                     {"counts",
                                      {{"accounts", report.accounts},
                                       {"api_keys", report.api_keys},
                                       {"consent_events", report.consent_events},
                                       {"usage_days", report.usage_days},
                                       {"training_objects", report.training_objects}}},
                                     {"files", files}};
    const fs::path tmp = dir_ / (std::string(kManifestName) + ".partial");
    {
      std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
      out << manifest.dump(2) << "\n";
      if (!out) return Io("cannot write", tmp, errno);
    }
    ::chmod(tmp.c_str(), 0600);
    FsyncPath(tmp, O_RDONLY);
    if (::rename(tmp.c_str(), (dir_ / kManifestName).c_str()) != 0) {
      return Io("cannot rename", tmp, errno);
    }
    FsyncDir(dir_);
    return report;
  });
}

// ---- BackupReader ----

Status BackupReader::Invalid(const std::string& why) const {
  return Status("backup_invalid", dir_.string() + ": " + why);
}

Result<BackupReader> BackupReader::Open(const fs::path& dir) {
  BackupReader r;
  r.dir_ = dir;
  nlohmann::json m;
  {
    std::ifstream in(dir / kManifestName, std::ios::binary);
    if (!in) return r.Invalid("no manifest.json: not a bgerase backup, or one that did not finish");
    m = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  }
  if (!m.is_object() || m.value("format", "") != kFormat || !m["files"].is_array() ||
      !m["schema_version"].is_number_integer() || !m["format_version"].is_number_integer()) {
    return r.Invalid("manifest.json is not a bgerase backup manifest");
  }
  if (m["format_version"].get<int>() > kFormatVersion) {
    return r.Invalid("made by a newer bgerase (backup format " +
                     std::to_string(m["format_version"].get<int>()) + ")");
  }
  r.schema_version_ = m["schema_version"].get<int>();
  if (r.schema_version_ < 1 || r.schema_version_ > static_cast<int>(Migrations().size())) {
    return r.Invalid("database schema version " + std::to_string(r.schema_version_) +
                     " is not one this bgerase understands");
  }
  bool has_db = false;
  for (const auto& f : m["files"]) {
    if (!f.is_object() || !f["path"].is_string() || !f["size"].is_number_unsigned() ||
        !f["sha256"].is_string()) {
      return r.Invalid("a file entry of manifest.json is malformed");
    }
    File file{f["path"].get<std::string>(), f["size"].get<std::uint64_t>(),
              f["sha256"].get<std::string>(), ""};
    if (file.path == kDbName) {
      has_db = true;
    } else {
      const std::string id = fs::path(file.path).filename().string();
      if (!IsWellFormedObjectId(id) || fs::path(file.path) != BlobRelative(id)) {
        return r.Invalid("manifest.json names an unexpected file " + file.path);
      }
      file.object = id;
    }
    r.report_.bytes += file.size;
    r.files_.push_back(std::move(file));
  }
  if (!has_db) return r.Invalid("manifest.json names no bgerase.db");
  const auto& counts = m["counts"];
  const auto count = [&](const char* name) {
    return counts.is_object() ? counts.value(name, std::size_t{0}) : std::size_t{0};
  };
  r.report_.accounts = count("accounts");
  r.report_.api_keys = count("api_keys");
  r.report_.consent_events = count("consent_events");
  r.report_.usage_days = count("usage_days");
  r.report_.training_objects = count("training_objects");
  r.report_.schema_version = r.schema_version_;
  r.report_.created_at_ms = m.value("created_at_ms", std::int64_t{0});
  return r;
}

Status BackupReader::CopyVerified(const File& file, const fs::path& to) const {
  auto d = CopyAndHash(dir_ / file.path, to);
  if (!d.ok()) {
    return d.status().code() == errors::kNotFound ? Invalid(file.path + " is missing") : d.status();
  }
  if (d->size != file.size || d->sha256 != file.sha256) {
    if (!to.empty()) ::unlink(to.c_str());
    return Invalid(file.path + " does not match manifest.json (changed or damaged)");
  }
  return Status::Ok();
}

Result<Bytes> BackupReader::ReadVerified(const File& file) const {
  std::ifstream in(dir_ / file.path, std::ios::binary);
  if (!in) return Invalid(file.path + " is missing");
  Bytes bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  unsigned char digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(digest, bytes.data(), bytes.size());
  char hex[crypto_hash_sha256_BYTES * 2 + 1];
  sodium_bin2hex(hex, sizeof hex, digest, sizeof digest);
  if (bytes.size() != file.size || file.sha256 != hex) {
    return Invalid(file.path + " does not match manifest.json (changed or damaged)");
  }
  return bytes;
}

}  // namespace bgerase::store::sqlite
