// Helpers for store tests: temporary data folders, stores on a manual clock, and raw looks at the
// SQLite file and blob folder — the tests check what is really on disk, not what the API says.
#pragma once

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <random>
#include <string>

#include "store/store.h"

namespace bgerase::store {
namespace fs = std::filesystem;
}  // namespace bgerase::store

namespace bgerase::store::testutil {

namespace fs = std::filesystem;

// A fixed, arbitrary starting instant for manual clocks.
inline Time T0() {
  return FromMillis(1'717'000'000'000);
}

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "bgerase-store-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) std::abort();
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

inline std::unique_ptr<Store> OpenAt(const fs::path& data, std::shared_ptr<const Clock> clock,
                                     std::chrono::seconds retention = kMaxRetention,
                                     bool run_reaper = false) {
  StoreOptions o;
  o.data_dir = data;
  o.clock = std::move(clock);
  auto r = RetentionPolicy::Create(retention);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  o.retention = *r;
  o.run_reaper = run_reaper;
  auto s = OpenStore(o);
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return s.ok() ? std::move(s.value()) : nullptr;
}

inline std::string ReadFileBytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// Whether `needle` occurs in any file under `root` (recursively) or in `root` itself.
inline bool AnyFileContains(const fs::path& root, std::string_view needle) {
  std::error_code ec;
  if (fs::is_regular_file(root, ec)) {
    return ReadFileBytes(root).find(needle) != std::string::npos;
  }
  for (const auto& e : fs::recursive_directory_iterator(root, ec)) {
    if (e.is_regular_file() && ReadFileBytes(e.path()).find(needle) != std::string::npos) {
      return true;
    }
  }
  return false;
}

inline std::size_t CountFiles(const fs::path& root) {
  std::size_t n = 0;
  std::error_code ec;
  for (const auto& e : fs::recursive_directory_iterator(root, ec)) n += e.is_regular_file() ? 1 : 0;
  return n;
}

// A separate raw connection to the store's database, as an attacker or auditor would have.
class RawDb {
 public:
  explicit RawDb(const fs::path& data) {
    if (sqlite3_open((data / "bgerase.db").c_str(), &db_) != SQLITE_OK) std::abort();
    sqlite3_busy_timeout(db_, 10000);
  }
  ~RawDb() { sqlite3_close(db_); }
  // Runs `sql`; returns the SQLite result code (SQLITE_OK on success) and keeps the message.
  int Exec(const std::string& sql) {
    char* err = nullptr;
    const int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err);
    error_ = err ? err : "";
    sqlite3_free(err);
    return rc;
  }
  const std::string& error() const { return error_; }
  std::int64_t Int(const std::string& sql) {
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &st, nullptr) != SQLITE_OK) {
      ADD_FAILURE() << sqlite3_errmsg(db_) << " in " << sql;
      return -1;
    }
    std::int64_t v = -1;
    if (sqlite3_step(st) == SQLITE_ROW) v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
  }
  std::string Blob(const std::string& sql) {
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &st, nullptr) != SQLITE_OK) return "";
    std::string v;
    if (sqlite3_step(st) == SQLITE_ROW) {
      const char* p = static_cast<const char*>(sqlite3_column_blob(st, 0));
      v.assign(p ? p : "", static_cast<std::size_t>(sqlite3_column_bytes(st, 0)));
    }
    sqlite3_finalize(st);
    return v;
  }

 private:
  sqlite3* db_ = nullptr;
  std::string error_;
};

// Bytes that look like an upload and carry a unique marker to search the disk for.
inline std::string FakeImage(const std::string& marker, std::size_t size = 4096) {
  std::string s = "\x89PNG\r\n\x1a\n" + marker;
  std::mt19937 rng(static_cast<unsigned>(std::hash<std::string>{}(marker)));
  while (s.size() < size) s.push_back(static_cast<char>(rng() & 0xff));
  s += marker;  // also at the end, so a chunked cipher can't hide one copy by luck
  return s;
}

inline std::string AsString(const Bytes& b) {
  return std::string(b.begin(), b.end());
}

}  // namespace bgerase::store::testutil
