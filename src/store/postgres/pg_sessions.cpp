// SessionStore on PostgreSQL. A token reaches a statement only as its BLAKE2b hash.
#include "store/new_rows.h"
#include "store/postgres/pg_store.h"
#include "store/refusals.h"
#include "store/secrets.h"

namespace bgerase::store::postgres {

Result<NewSession> PgSessions::Create(const AccountId& account, std::chrono::seconds ttl) {
  return PgGuard([&]() -> Result<NewSession> {
    const Time now = c_.Now();
    auto made = NewSessionFor(account, ttl, now);
    if (!made.ok()) return made.status();
    const NewSession& s = *made;
    Status st = c_.pool->Run([&](pqxx::connection& conn) -> Status {
      pqxx::work tx(conn);
      if (!LockAccount(tx, account, "FOR KEY SHARE")) {
        return refusals::NoSuchAccount();
      }
      tx.exec_params(
          "INSERT INTO sessions (token_hash, account_id, created_at, expires_at) "
          "VALUES ($1, $2, $3, $4)",
          ToBinary(SecretHash(s.token)), account, ToMillis(now), ToMillis(s.expires_at));
      tx.commit();
      return Status::Ok();
    });
    if (!st.ok()) return st;
    if (c_.on_new_expiry) c_.on_new_expiry(s.expires_at);
    return s;
  });
}

Result<SessionInfo> PgSessions::Validate(std::string_view token) {
  return PgGuard([&]() -> Result<SessionInfo> {
    const Bytes hash = SecretHash(token);
    return c_.pool->Run([&](pqxx::connection& conn) -> Result<SessionInfo> {
      pqxx::read_transaction tx(conn);
      const auto r = tx.exec_params(
          "SELECT account_id, expires_at FROM sessions WHERE token_hash = $1 AND expires_at > $2",
          ToBinary(hash), ToMillis(c_.Now()));
      if (r.empty()) return refusals::InvalidSession();
      return SessionInfo{r[0][0].as<std::string>(), FromMillis(r[0][1].as<std::int64_t>())};
    });
  });
}

Status PgSessions::End(std::string_view token) {
  return PgGuard([&]() -> Status {
    const Bytes hash = SecretHash(token);
    return c_.pool->Run([&](pqxx::connection& conn) {
      pqxx::work tx(conn);
      tx.exec_params("DELETE FROM sessions WHERE token_hash = $1", ToBinary(hash));
      tx.commit();
      return Status::Ok();
    });
  });
}

Result<Bytes> PgSessions::FormKey() {
  return PgGuard([&]() -> Result<Bytes> {
    const Bytes fresh = RandomBytes(kFormKeyBytes);
    return c_.pool->Run([&](pqxx::connection& conn) -> Result<Bytes> {
      pqxx::work tx(conn);
      // The first replica's key wins; every later one reads it.
      tx.exec_params(
          "INSERT INTO server_secrets (name, secret) VALUES ('form_key', $1) "
          "ON CONFLICT (name) DO NOTHING",
          ToBinary(fresh));
      const auto r = tx.exec("SELECT secret FROM server_secrets WHERE name = 'form_key'");
      tx.commit();
      if (r.empty()) return Status(errors::kStorageError, "the form key could not be read");
      return PgRow(r[0]).Blob(0);
    });
  });
}

}  // namespace bgerase::store::postgres
