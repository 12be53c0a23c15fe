// One store test, either backend: StoreEnv gives a test a fresh store location (a data folder for
// SQLite, a database of its own on the fixture's PostgreSQL server) and a raw look at what is
// stored there, so behavioural tests run unchanged against both. Tests that inspect SQLite files
// or the blob folder stay SQLite-only.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>

#include "pg_test_util.h"
#include "test_util.h"

namespace bgerase::store::testutil {

enum class Backend { kSqlite, kPostgres };

inline std::string BackendName(const ::testing::TestParamInfo<Backend>& info) {
  return info.param == Backend::kSqlite ? "Sqlite" : "Postgres";
}

// Both backends, for INSTANTIATE_TEST_SUITE_P.
inline auto AllBackends() {
  return ::testing::Values(Backend::kSqlite, Backend::kPostgres);
}

class StoreEnv {
 public:
  explicit StoreEnv(Backend backend) : backend_(backend) {
    if (backend_ == Backend::kPostgres) pg_.emplace();
  }

  Backend backend() const { return backend_; }
  bool sqlite() const { return backend_ == Backend::kSqlite; }
  // The data folder; holds the SQLite database and blobs, and is unused by PostgreSQL.
  const fs::path& data() const { return dir_.path(); }

  StoreOptions Options(std::shared_ptr<const Clock> clock,
                       std::chrono::seconds retention = kMaxRetention,
                       bool run_reaper = false) const {
    StoreOptions o;
    o.data_dir = dir_.path();
    if (pg_) o.database_url = pg_->url();
    o.clock = std::move(clock);
    auto r = RetentionPolicy::Create(retention);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    if (r.ok()) o.retention = *r;
    o.run_reaper = run_reaper;
    return o;
  }

  // Like OpenAt: null (and a test failure) when the store cannot be opened.
  std::unique_ptr<Store> Open(std::shared_ptr<const Clock> clock,
                              std::chrono::seconds retention = kMaxRetention,
                              bool run_reaper = false) const {
    auto s = OpenStore(Options(std::move(clock), retention, run_reaper));
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? std::move(s.value()) : nullptr;
  }

  // The first column of the first row of `sql` (portable SQL), via a connection of its own.
  std::int64_t Int(const std::string& sql) const {
    if (pg_) return Pg().Int(sql);
    return RawDb(dir_.path()).Int(sql);
  }

  // Runs `sql` (portable SQL) on a connection of its own; true on success, else false with the
  // database's message in error().
  bool Exec(const std::string& sql) {
    if (pg_) {
      const bool ok = Pg().Exec(sql);
      error_ = Pg().error();
      return ok;
    }
    RawDb raw(dir_.path());
    const bool ok = raw.Exec(sql) == SQLITE_OK;
    error_ = raw.error();
    return ok;
  }
  const std::string& error() const { return error_; }

  // The first column of the first row as raw bytes (blob, bytea or text); empty if none.
  std::string Bytes(const std::string& sql) const {
    if (pg_) return Pg().Bytea(sql);
    return RawDb(dir_.path()).Blob(sql);
  }

  // The object's stored ciphertext: its file, or its row of the blobs table.
  std::string Ciphertext(const std::string& id) const {
    if (pg_) return Bytes("SELECT data FROM blobs WHERE object_id = '" + id + "'");
    return ReadFileBytes(dir_.path() / "blobs" / id.substr(4, 2) / id);
  }

  // How many blobs are stored: files in the blob folder, rows of the blobs table.
  std::size_t BlobCount() const {
    if (pg_) return static_cast<std::size_t>(Int("SELECT count(*) FROM blobs"));
    return CountFiles(dir_.path() / "blobs");
  }

  // Whether the object's ciphertext is still stored: its file, or its row of the blobs table.
  bool BlobExists(const std::string& id) const {
    if (pg_) return Int("SELECT count(*) FROM blobs WHERE object_id = '" + id + "'") > 0;
    return fs::exists(dir_.path() / "blobs" / id.substr(4, 2) / id);
  }

  // Whether `needle` is anywhere in what the database consists of: its files (SQLite, WAL
  // included) or any column of any table (PostgreSQL).
  bool DatabaseContains(const std::string& needle) const {
    if (pg_) return Pg().AnyTableContains(needle);
    for (const char* f : {"bgerase.db", "bgerase.db-wal", "bgerase.db-shm"}) {
      if (fs::exists(dir_.path() / f) && AnyFileContains(dir_.path() / f, needle)) return true;
    }
    return false;
  }

  // PostgreSQL only: drops the database under the store's feet.
  void DropDatabase() {
    raw_.reset();
    if (pg_) pg_->Drop();
  }

  // The PostgreSQL database's URL; empty for SQLite.
  std::string url() const { return pg_ ? pg_->url() : ""; }

 private:
  // One raw connection, opened on first use (tests poll counts in loops).
  PgRaw& Pg() const {
    if (!raw_) raw_ = std::make_unique<PgRaw>(pg_->url());
    return *raw_;
  }

  Backend backend_;
  TempDir dir_;
  std::optional<PgTestDb> pg_;
  mutable std::unique_ptr<PgRaw> raw_;
  std::string error_;
};

}  // namespace bgerase::store::testutil
