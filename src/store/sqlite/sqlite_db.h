// A thin C++ layer over one SQLite connection: statements, transactions and migrations.
// Internal to the SQLite backend. Errors inside the backend are thrown as DbError and turned into
// Status at the interface boundary (see Guard in store/db_error.h).
#pragma once

#include <sqlite3.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"
#include "store/db_error.h"
#include "store/types.h"

namespace bgerase::store::sqlite {

// A prepared statement. Move-only; finalized on destruction. Bind indexes start at 1, column
// indexes at 0.
class Statement {
 public:
  Statement(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  Statement(Statement&& o) noexcept : db_(o.db_), stmt_(o.stmt_) { o.stmt_ = nullptr; }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement();

  Statement& Bind(int i, std::int64_t v);
  Statement& Bind(int i, std::string_view v);
  Statement& Bind(int i, const char* v) { return Bind(i, std::string_view(v)); }
  Statement& Bind(int i, const std::string& v) { return Bind(i, std::string_view(v)); }
  Statement& Bind(int i, ByteView v);
  Statement& BindNull(int i);
  template <typename T>
  Statement& Bind(int i, const std::optional<T>& v) {
    return v ? Bind(i, *v) : BindNull(i);
  }

  // Advances; true when a row is available.
  bool Step();
  // Steps to completion (for statements without rows).
  void Run();

  bool IsNull(int col) const;
  bool IsBlob(int col) const;
  std::int64_t Int(int col) const;
  std::string Text(int col) const;
  Bytes Blob(int col) const;
  std::optional<std::int64_t> OptInt(int col) const;
  std::optional<std::string> OptText(int col) const;

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_;
};

// One connection, serialised by mutex(): callers lock it for the duration of a statement or
// transaction. SQLite's own file locking (WAL, busy timeout) handles other processes.
class SqliteDb {
 public:
  // Opens or creates the database, sets WAL, synchronous=FULL, secure_delete, foreign keys and a
  // busy timeout, then applies pending migrations.
  // busy_wait: how long a statement waits for another connection's write lock before it fails
  // with store_unavailable (the database is busy; retrying later can succeed).
  static std::unique_ptr<SqliteDb> Open(
      const std::filesystem::path& path,
      std::chrono::milliseconds busy_wait = std::chrono::milliseconds(10000));
  ~SqliteDb();
  SqliteDb(const SqliteDb&) = delete;
  SqliteDb& operator=(const SqliteDb&) = delete;

  std::mutex& mutex() { return mu_; }
  sqlite3* handle() { return db_; }
  const std::filesystem::path& path() const { return path_; }

  void Exec(const char* sql);
  Statement Prepare(std::string_view sql);
  // Folds the WAL back into the database file and truncates it, so pages that held deleted keys
  // do not linger in the WAL. Best effort: readers in other processes can hold it back.
  void CheckpointTruncate();

 private:
  SqliteDb(sqlite3* db, std::filesystem::path path, std::chrono::milliseconds busy_wait)
      : db_(db), path_(std::move(path)), busy_wait_(busy_wait) {}
  void Migrate();
  static int OnBusy(void* self, int tries);

  sqlite3* db_;
  std::filesystem::path path_;
  std::mutex mu_;
  const std::chrono::milliseconds busy_wait_;
  std::chrono::steady_clock::time_point busy_since_;  // when the current wait began
  std::uint32_t jitter_ = 0;                          // xorshift state for the poll interval
};

// BEGIN IMMEDIATE ... COMMIT, rolled back if not committed. IMMEDIATE takes the write lock up
// front, so a check-then-write inside one Transaction is atomic across processes too.
class Transaction {
 public:
  explicit Transaction(SqliteDb& db);
  ~Transaction();
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  void Commit();

 private:
  SqliteDb& db_;
  bool done_ = false;
};

[[noreturn]] void ThrowSqlite(sqlite3* db, std::string_view what);

}  // namespace bgerase::store::sqlite
