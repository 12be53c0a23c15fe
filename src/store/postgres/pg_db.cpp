// PgPool, error translation and migrations.
#include "store/postgres/pg_db.h"

#include "store/errors.h"
#include "store/postgres/pg_schema.h"

namespace bgerase::store::postgres {

Status StatusFromSqlError(const pqxx::sql_error& e) {
  const std::string msg = e.what();
  if (msg.find("consent_not_active") != std::string::npos) {
    return Status(errors::kConsentNotActive, "consent to training is not active");
  }
  // admin_shutdown, crash_shutdown, cannot_connect_now (57P0x); connection exceptions (08xxx).
  const std::string state = e.sqlstate();
  if (state.rfind("57P", 0) == 0 || state.rfind("08", 0) == 0) {
    return Status(errors::kStoreUnavailable, msg);
  }
  return Status(errors::kDatabaseError, msg);
}

std::unique_ptr<pqxx::connection> PgPool::Acquire() {
  {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return !idle_.empty() || open_ < max_; });
    if (!idle_.empty()) {
      auto conn = std::move(idle_.back());
      idle_.pop_back();
      return conn;
    }
    ++open_;  // reserve the slot; connect outside the lock
  }
  try {
    return std::make_unique<pqxx::connection>(url_);
  } catch (...) {
    Release(nullptr);
    throw;
  }
}

void PgPool::Release(std::unique_ptr<pqxx::connection> conn) {
  {
    std::lock_guard lock(mu_);
    if (conn) {
      idle_.push_back(std::move(conn));
    } else {
      --open_;
    }
  }
  cv_.notify_one();
}

void PgPool::DropIdle() {
  std::vector<std::unique_ptr<pqxx::connection>> stale;
  {
    std::lock_guard lock(mu_);
    stale.swap(idle_);
    open_ -= stale.size();
  }
  cv_.notify_all();
  // Closed here, outside the lock, as `stale` goes.
}

void Migrate(pqxx::connection& conn) {
  const auto migrations = Migrations();
  pqxx::work tx(conn);
  // Replicas starting at once take turns; the second finds the work done.
  tx.exec("SELECT pg_advisory_xact_lock(7142843315620493617)");
  tx.exec(
      "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
      "applied_at TIMESTAMPTZ NOT NULL DEFAULT now())");
  const auto v = tx.exec1("SELECT coalesce(max(version), 0) FROM schema_migrations");
  const auto version = v[0].as<std::int64_t>();
  if (version > static_cast<std::int64_t>(migrations.size())) {
    throw DbError(Status(errors::kDatabaseError, "database schema version " +
                                                     std::to_string(version) +
                                                     " is newer than this bgerase understands"));
  }
  for (std::size_t i = static_cast<std::size_t>(version); i < migrations.size(); ++i) {
    tx.exec(migrations[i]);
    tx.exec_params("INSERT INTO schema_migrations (version) VALUES ($1)", static_cast<int>(i + 1));
  }
  tx.commit();
}

std::optional<std::string> PgRow::OptText(int col) const {
  if (row_[col].is_null()) return std::nullopt;
  return Text(col);
}

std::optional<std::int64_t> PgRow::OptInt(int col) const {
  if (row_[col].is_null()) return std::nullopt;
  return Int(col);
}

Bytes PgRow::Blob(int col) const {
  if (row_[col].is_null()) return {};
  const pqxx::binarystring b(row_[col]);
  return Bytes(b.data(), b.data() + b.size());
}

pqxx::binarystring ToBinary(ByteView bytes) {
  return pqxx::binarystring(bytes.data(), bytes.size());
}

}  // namespace bgerase::store::postgres
