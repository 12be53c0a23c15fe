// SqliteDb: connection setup, statements, transactions, versioned migrations.
#include "store/sqlite/sqlite_db.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "store/errors.h"
#include "store/sqlite/schema.h"

namespace bgerase::store::sqlite {

namespace {

// The error of a failed call on `db`: trigger-raised refusals carry our error code as their
// message; a lock that stayed taken past the busy wait (SQLITE_BUSY, and SQLITE_BUSY_SNAPSHOT,
// which does not wait) is store_unavailable, since nothing was written and a retry can succeed.
[[noreturn]] void ThrowFailure(sqlite3* db, const std::string& msg) {
  if (msg.find("consent_not_active") != std::string::npos) {
    throw DbError(Status(errors::kConsentNotActive, "consent to training is not active"));
  }
  if (db && (sqlite3_extended_errcode(db) & 0xff) == SQLITE_BUSY) {
    throw DbError(Status(errors::kStoreUnavailable, msg));
  }
  throw DbError(Status(errors::kDatabaseError, msg));
}

}  // namespace

[[noreturn]] void ThrowSqlite(sqlite3* db, std::string_view what) {
  std::string msg(what);
  if (db) msg += std::string(": ") + sqlite3_errmsg(db);
  ThrowFailure(db, msg);
}

Statement::~Statement() {
  if (stmt_) sqlite3_finalize(stmt_);
}

Statement& Statement::Bind(int i, std::int64_t v) {
  if (sqlite3_bind_int64(stmt_, i, v) != SQLITE_OK) ThrowSqlite(db_, "bind");
  return *this;
}

Statement& Statement::Bind(int i, std::string_view v) {
  if (sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT) !=
      SQLITE_OK) {
    ThrowSqlite(db_, "bind");
  }
  return *this;
}

Statement& Statement::Bind(int i, ByteView v) {
  // A zero-length blob must still be a blob, not NULL; sqlite3_bind_blob with a null pointer
  // would bind NULL.
  static const std::uint8_t kEmpty = 0;
  if (sqlite3_bind_blob(stmt_, i, v.empty() ? &kEmpty : v.data(), static_cast<int>(v.size()),
                        SQLITE_TRANSIENT) != SQLITE_OK) {
    ThrowSqlite(db_, "bind");
  }
  return *this;
}

Statement& Statement::BindNull(int i) {
  if (sqlite3_bind_null(stmt_, i) != SQLITE_OK) ThrowSqlite(db_, "bind");
  return *this;
}

bool Statement::Step() {
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  ThrowSqlite(db_, "step");
}

void Statement::Run() {
  while (Step()) {
  }
}

bool Statement::IsNull(int col) const {
  return sqlite3_column_type(stmt_, col) == SQLITE_NULL;
}

bool Statement::IsBlob(int col) const {
  return sqlite3_column_type(stmt_, col) == SQLITE_BLOB;
}

std::int64_t Statement::Int(int col) const {
  return sqlite3_column_int64(stmt_, col);
}

std::string Statement::Text(int col) const {
  const auto* p = sqlite3_column_text(stmt_, col);
  const int n = sqlite3_column_bytes(stmt_, col);
  return p ? std::string(reinterpret_cast<const char*>(p), static_cast<std::size_t>(n))
           : std::string();
}

Bytes Statement::Blob(int col) const {
  const auto* p = static_cast<const std::uint8_t*>(sqlite3_column_blob(stmt_, col));
  const int n = sqlite3_column_bytes(stmt_, col);
  return p ? Bytes(p, p + n) : Bytes();
}

std::optional<std::int64_t> Statement::OptInt(int col) const {
  if (IsNull(col)) return std::nullopt;
  return Int(col);
}

std::optional<std::string> Statement::OptText(int col) const {
  if (IsNull(col)) return std::nullopt;
  return Text(col);
}

// SQLite's own busy handler sleeps ever longer between tries (up to 100 ms each), so a
// connection waiting on another that commits in a loop can miss every short gap between its
// commits and give up while the lock was free most of the time. This one polls every 0.5–1.5 ms
// (jittered, so two waiters do not keep colliding) until busy_wait has passed.
int SqliteDb::OnBusy(void* self, int tries) {
  auto* db = static_cast<SqliteDb*>(self);
  const auto now = std::chrono::steady_clock::now();
  if (tries == 0) db->busy_since_ = now;
  if (now - db->busy_since_ >= db->busy_wait_) return 0;
  std::uint32_t& x = db->jitter_;
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  ::usleep(500 + x % 1000);
  return 1;
}

std::unique_ptr<SqliteDb> SqliteDb::Open(const std::filesystem::path& path,
                                         std::chrono::milliseconds busy_wait) {
  // The database holds every object's key: only the service's user may read it. SQLite gives
  // its -wal and -shm files the database file's mode, so making that one 0600 (created so, or
  // tightened when an operator's umask left it wider) covers all three.
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd >= 0) {
    ::fchmod(fd, 0600);
    ::close(fd);
  }
  for (const char* suffix : {"-wal", "-shm"}) ::chmod((path.string() + suffix).c_str(), 0600);
  sqlite3* raw = nullptr;
  const int rc =
      sqlite3_open_v2(path.c_str(), &raw,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = "cannot open database " + path.string();
    if (raw) {
      msg += std::string(": ") + sqlite3_errmsg(raw);
      sqlite3_close(raw);
    }
    throw DbError(Status(errors::kDatabaseError, msg));
  }
  std::unique_ptr<SqliteDb> db(new SqliteDb(raw, path, busy_wait));
  db->jitter_ = static_cast<std::uint32_t>(reinterpret_cast<std::uintptr_t>(db.get()) >> 4) | 1;
  sqlite3_busy_handler(raw, &SqliteDb::OnBusy, db.get());
  db->Exec("PRAGMA journal_mode=WAL");
  // FULL: a committed deletion survives power loss, not only a process crash.
  db->Exec("PRAGMA synchronous=FULL");
  // Deleted rows (keys, hashes, emails) are overwritten with zeros, not just unlinked.
  db->Exec("PRAGMA secure_delete=ON");
  db->Exec("PRAGMA foreign_keys=ON");
  db->Migrate();
  return db;
}

SqliteDb::~SqliteDb() {
  sqlite3_close_v2(db_);
}

void SqliteDb::Exec(const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "exec failed";
    sqlite3_free(err);
    ThrowFailure(db_, msg);
  }
}

Statement SqliteDb::Prepare(std::string_view sql) {
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &stmt, nullptr) !=
      SQLITE_OK) {
    ThrowSqlite(db_, "prepare");
  }
  return Statement(db_, stmt);
}

void SqliteDb::CheckpointTruncate() {
  sqlite3_wal_checkpoint_v2(db_, nullptr, SQLITE_CHECKPOINT_TRUNCATE, nullptr, nullptr);
}

void SqliteDb::Migrate() {
  const auto migrations = Migrations();
  Transaction tx(*this);
  auto v = Prepare("PRAGMA user_version");
  v.Step();
  const std::int64_t version = v.Int(0);
  if (version > static_cast<std::int64_t>(migrations.size())) {
    throw DbError(Status(errors::kDatabaseError, "database schema version " +
                                                     std::to_string(version) +
                                                     " is newer than this bgerase understands"));
  }
  for (std::size_t i = static_cast<std::size_t>(version); i < migrations.size(); ++i) {
    Exec(migrations[i]);
    Exec(("PRAGMA user_version=" + std::to_string(i + 1)).c_str());
  }
  tx.Commit();
}

Transaction::Transaction(SqliteDb& db) : db_(db) {
  db_.Exec("BEGIN IMMEDIATE");
}

Transaction::~Transaction() {
  if (!done_) sqlite3_exec(db_.handle(), "ROLLBACK", nullptr, nullptr, nullptr);
}

void Transaction::Commit() {
  db_.Exec("COMMIT");
  done_ = true;
}

}  // namespace bgerase::store::sqlite
