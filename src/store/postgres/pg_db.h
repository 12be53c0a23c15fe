// A small pool of libpqxx connections to one PostgreSQL database, and the schema migrations.
// Internal to the PostgreSQL backend. Errors are thrown (DbError, pqxx exceptions) and turned
// into Status at the interface boundary by PgGuard.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "store/db_error.h"
#include "store/types.h"

namespace bgerase::store::postgres {

// The Status a database error stands for: our trigger-raised refusals carry their error code
// (e.g. "consent_not_active") as their message; a server shutting down or not accepting
// connections yet (SQLSTATE classes 57P and 08) is "store_unavailable"; everything else is
// "database_error".
Status StatusFromSqlError(const pqxx::sql_error& e);

// Guard, plus the translation of PostgreSQL errors into their stable codes.
template <typename F>
auto PgGuard(F&& f) -> decltype(f()) {
  return Guard([&]() -> decltype(f()) {
    try {
      return f();
    } catch (const pqxx::broken_connection& e) {
      // The server is down or restarting (PgPool has already retried once on a fresh
      // connection): the caller may retry later, so this is not an internal failure.
      throw DbError(Status(errors::kStoreUnavailable, e.what()));
    } catch (const pqxx::in_doubt_error& e) {
      throw DbError(Status(errors::kStoreUnavailable, e.what()));
    } catch (const pqxx::sql_error& e) {
      throw DbError(StatusFromSqlError(e));
    }
  });
}

// Thread-safe. Up to `max_connections` connections, opened on demand and reused; a caller waits
// when all are busy. A connection that breaks (server restart, network) is dropped together with
// every idle one (they went to the same server), and the call is retried once on a fresh one
// when it broke before anything could have been committed.
class PgPool {
 public:
  PgPool(std::string url, std::size_t max_connections)
      : url_(std::move(url)), max_(max_connections) {}
  PgPool(const PgPool&) = delete;
  PgPool& operator=(const PgPool&) = delete;

  // Runs f(pqxx::connection&) on a connection of the pool, which is the caller's alone meanwhile.
  template <typename F>
  auto Run(F&& f) -> decltype(f(std::declval<pqxx::connection&>())) {
    for (int attempt = 0;; ++attempt) {
      std::unique_ptr<pqxx::connection> conn = Acquire();
      try {
        auto result = f(*conn);
        Release(std::move(conn));
        return result;
      } catch (const pqxx::in_doubt_error&) {
        throw;  // the commit may have happened: never retry
      } catch (const pqxx::broken_connection&) {
        Release(nullptr);
        DropIdle();
        if (attempt > 0) throw;
      } catch (...) {
        Release(conn->is_open() ? std::move(conn) : nullptr);
        throw;
      }
    }
  }

  const std::string& url() const { return url_; }

 private:
  std::unique_ptr<pqxx::connection> Acquire();
  // Returns a connection to the pool; null when it was dropped.
  void Release(std::unique_ptr<pqxx::connection> conn);
  // Closes the idle connections, after one broke: they are as stale as it was.
  void DropIdle();

  const std::string url_;
  const std::size_t max_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<pqxx::connection>> idle_;
  std::size_t open_ = 0;  // idle + in use
};

// Applies the migrations this build knows that the database lacks, in one transaction under an
// advisory lock, so replicas starting together migrate once. Refuses a newer schema.
void Migrate(pqxx::connection& conn);

// A result row with the accessors the shared row readers (row_readers.h) use.
class PgRow {
 public:
  explicit PgRow(pqxx::row row) : row_(std::move(row)) {}
  std::string Text(int col) const { return row_[col].as<std::string>(); }
  std::int64_t Int(int col) const { return row_[col].as<std::int64_t>(); }
  std::optional<std::string> OptText(int col) const;
  std::optional<std::int64_t> OptInt(int col) const;
  Bytes Blob(int col) const;  // a bytea column; empty when NULL

 private:
  pqxx::row row_;
};

pqxx::binarystring ToBinary(ByteView bytes);

}  // namespace bgerase::store::postgres
