// Helpers for store tests on PostgreSQL: the server the CTest fixture started (scripts/
// pg-test-server), a fresh database per test, and a raw libpqxx connection to look at what is
// really stored. No server is a failure, never a skip: these tests prove promises.
#pragma once

#include <gtest/gtest.h>
#include <sodium.h>

#include <cstdlib>
#include <fstream>
#include <memory>
#include <pqxx/pqxx>
#include <string>

#include "store/store.h"

namespace bgerase::store::testutil {

// The URL of the test server's maintenance database: $BGERASE_TEST_POSTGRES_URL, else the
// contents of the file named by $BGERASE_TEST_POSTGRES_URL_FILE (what the fixture writes, as the
// port is picked when the server starts). Empty, with a test failure, when neither is usable.
inline std::string PgServerUrl() {
  if (const char* url = std::getenv("BGERASE_TEST_POSTGRES_URL"); url && *url) return url;
  if (const char* file = std::getenv("BGERASE_TEST_POSTGRES_URL_FILE"); file && *file) {
    std::ifstream in(file);
    std::string url;
    if (std::getline(in, url) && !url.empty()) return url;
    ADD_FAILURE() << "no URL in " << file << ": did the postgres fixture (scripts/pg-test-server) "
                  << "start? Check the pg_server_start test's output.";
    return "";
  }
  ADD_FAILURE() << "set BGERASE_TEST_POSTGRES_URL (or run through ctest, whose postgres fixture "
                   "starts a server)";
  return "";
}

// `url` with its database name replaced by `db`.
inline std::string WithDatabase(const std::string& url, const std::string& db) {
  const auto scheme = url.find("://");
  const auto slash = url.find('/', scheme == std::string::npos ? 0 : scheme + 3);
  const auto query = url.find('?');
  if (slash == std::string::npos || (query != std::string::npos && query < slash)) {
    return url.substr(0, query) + "/" + db + (query == std::string::npos ? "" : url.substr(query));
  }
  return url.substr(0, slash) + "/" + db + (query == std::string::npos ? "" : url.substr(query));
}

// A database of its own for one test, created on construction and dropped on destruction (even
// with connections still open).
class PgTestDb {
 public:
  PgTestDb() : server_(PgServerUrl()) {
    if (server_.empty()) return;
    std::uint8_t raw[8];
    randombytes_buf(raw, sizeof raw);
    char hex[17];
    sodium_bin2hex(hex, sizeof hex, raw, sizeof raw);
    name_ = std::string("t_") + hex;
    try {
      pqxx::connection admin(server_);
      pqxx::nontransaction tx(admin);
      tx.exec("CREATE DATABASE " + name_);
      url_ = WithDatabase(server_, name_);
    } catch (const std::exception& e) {
      ADD_FAILURE() << "cannot create a test database on " << server_ << ": " << e.what();
    }
  }
  ~PgTestDb() { Drop(); }
  // Drops the database now, closing every connection to it (what a lost server looks like to
  // the store).
  void Drop() {
    if (url_.empty() || dropped_) return;
    try {
      pqxx::connection admin(server_);
      pqxx::nontransaction tx(admin);
      tx.exec("DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)");
      dropped_ = true;
    } catch (const std::exception& e) {
      ADD_FAILURE() << "cannot drop " << name_ << ": " << e.what();
    }
  }
  PgTestDb(const PgTestDb&) = delete;
  PgTestDb& operator=(const PgTestDb&) = delete;

  // Empty when the database could not be created (the test has already failed then).
  const std::string& url() const { return url_; }

 private:
  std::string server_;
  std::string name_;
  std::string url_;
  bool dropped_ = false;
};

// A separate raw connection to a store's PostgreSQL database, as an attacker or auditor (or
// another process) would have. Each call is its own transaction.
class PgRaw {
 public:
  explicit PgRaw(const std::string& url) : conn_(url) {}

  // Runs `sql`; true on success, else false with error() set.
  bool Exec(const std::string& sql) {
    try {
      pqxx::work tx(conn_);
      tx.exec(sql);
      tx.commit();
      error_.clear();
      return true;
    } catch (const std::exception& e) {
      error_ = e.what();
      return false;
    }
  }
  const std::string& error() const { return error_; }
  // The first column of the first row as an integer; -1 (and a test failure) on errors.
  std::int64_t Int(const std::string& sql) {
    try {
      pqxx::work tx(conn_);
      const auto r = tx.exec(sql);
      tx.commit();
      if (r.empty() || r[0][0].is_null()) return -1;
      return r[0][0].as<std::int64_t>();
    } catch (const std::exception& e) {
      ADD_FAILURE() << e.what() << " in " << sql;
      return -1;
    }
  }
  // The first column of the first row, a bytea, as raw bytes; empty if none.
  std::string Bytea(const std::string& sql) {
    pqxx::work tx(conn_);
    const auto r = tx.exec(sql);
    tx.commit();
    if (r.empty() || r[0][0].is_null()) return "";
    return pqxx::binarystring(r[0][0]).str();
  }
  // Whether any column of any row of `table` contains the bytes of `needle` (text columns as
  // their UTF-8 bytes).
  bool TableContains(const std::string& table, const std::string& needle) {
    pqxx::work tx(conn_);
    const auto cols = tx.exec_params(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = $1",
        table);
    for (const auto& c : cols) {
      const std::string col = tx.quote_name(c[0].as<std::string>());
      const bool bytea = c[1].as<std::string>() == "bytea";
      const std::string haystack = bytea ? col : "convert_to(" + col + "::text, 'UTF8')";
      const std::string cond =
          "position(" + tx.quote(pqxx::binarystring(needle)) + "::bytea in " + haystack + ") > 0";
      if (!tx.exec("SELECT 1 FROM " + tx.quote_name(table) + " WHERE " + cond + " LIMIT 1")
               .empty()) {
        return true;
      }
    }
    return false;
  }
  // TableContains over every table of the store.
  bool AnyTableContains(const std::string& needle) {
    std::vector<std::string> tables;
    {
      pqxx::work tx(conn_);
      for (const auto& r : tx.exec("SELECT tablename FROM pg_tables WHERE schemaname = 'public'"))
        tables.push_back(r[0].as<std::string>());
    }
    for (const auto& t : tables)
      if (TableContains(t, needle)) return true;
    return false;
  }

 private:
  pqxx::connection conn_;
  std::string error_;
};

}  // namespace bgerase::store::testutil
