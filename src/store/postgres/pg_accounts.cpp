// Accounts, API keys, web sessions and usage counts on PostgreSQL. Secrets are hashed before they
// reach a statement (credentials.h, secrets.h): passwords with argon2id, keys and session tokens
// with BLAKE2b.
#include <algorithm>

#include "store/credentials.h"
#include "store/new_rows.h"
#include "store/postgres/pg_store.h"
#include "store/row_readers.h"
#include "store/secrets.h"
#include "store/usage_window.h"

namespace bgerase::store::postgres {
namespace {

// One account by a condition on `accounts` with one parameter.
Result<Account> FindAccount(Core& c, const std::string& where, const std::string& arg,
                            const Status& missing) {
  return c.pool->Run([&](pqxx::connection& conn) -> Result<Account> {
    pqxx::read_transaction tx(conn);
    const auto r = tx.exec_params(
        std::string("SELECT ") + kAccountColumns + " FROM accounts WHERE " + where, arg);
    if (r.empty()) return missing;
    return ReadAccount(PgRow(r[0]));
  });
}

}  // namespace

// ---- Accounts ---------------------------------------------------------------------------------

Result<Account> PgAccounts::Create(std::string_view email,
                                   std::optional<std::string_view> password) {
  return PgGuard([&]() -> Result<Account> {
    auto made = NewAccount(email, password, c_.Now());
    if (!made.ok()) return made.status();
    const Account& a = made->account;
    return c_.pool->Run([&](pqxx::connection& conn) -> Result<Account> {
      pqxx::work tx(conn);
      // ON CONFLICT instead of check-then-insert: two replicas creating the same email at once
      // must not both succeed, and the unique index decides.
      const auto r = tx.exec_params(
          "INSERT INTO accounts (id, email, password_hash, created_at) VALUES ($1, $2, $3, $4) "
          "ON CONFLICT DO NOTHING",
          a.id, a.email, made->password_hash, ToMillis(a.created_at));
      if (r.affected_rows() == 0) return refusals::AccountExists(a.email);
      tx.commit();
      return a;
    });
  });
}

Result<Account> PgAccounts::FindByEmail(std::string_view email) {
  return PgGuard([&]() -> Result<Account> {
    return FindAccount(c_, "lower(email) = lower($1)", std::string(email),
                       refusals::NoAccountFor(email));
  });
}

Result<Account> PgAccounts::FindById(const AccountId& id) {
  return PgGuard([&]() -> Result<Account> {
    return FindAccount(c_, "id = $1", id, refusals::NoSuchAccount());
  });
}

Result<Account> PgAccounts::VerifyPassword(std::string_view email, std::string_view password) {
  return PgGuard([&]() -> Result<Account> {
    std::optional<Account> account;
    std::string hash;
    c_.pool->Run([&](pqxx::connection& conn) {
      pqxx::read_transaction tx(conn);
      const auto r = tx.exec_params(std::string("SELECT ") + kAccountColumns +
                                        ", password_hash FROM accounts WHERE lower(email) = "
                                        "lower($1)",
                                    std::string(email));
      if (!r.empty()) {
        const PgRow row(r[0]);
        account = ReadAccount(row);
        hash = row.OptText(4).value_or("");
      }
      return 0;
    });
    return CheckSignIn(std::move(account), hash, password);
  });
}

Result<std::vector<Account>> PgAccounts::List() {
  return PgGuard([&]() -> Result<std::vector<Account>> {
    return c_.pool->Run([&](pqxx::connection& conn) {
      pqxx::read_transaction tx(conn);
      std::vector<Account> out;
      for (const auto& row : tx.exec(std::string("SELECT ") + kAccountColumns +
                                     " FROM accounts ORDER BY created_at, lower(email) COLLATE "
                                     "\"C\"")) {
        out.push_back(ReadAccount(PgRow(row)));
      }
      return out;
    });
  });
}

// ---- API keys ---------------------------------------------------------------------------------

Result<NewApiKey> PgApiKeys::Create(const AccountId& account) {
  return PgGuard([&]() -> Result<NewApiKey> {
    return c_.pool->Run([&](pqxx::connection& conn) -> Result<NewApiKey> {
      pqxx::work tx(conn);
      if (!LockAccount(tx, account, "FOR KEY SHARE")) {
        return refusals::NoSuchAccount();
      }
      NewApiKey k;
      k.info.account = account;
      k.info.created_at = c_.Now();
      // The prefix is 32 bits of the key; retry on the rare collision so lookups stay unique.
      for (;;) {
        ApiKeySecret secret = GenerateApiKey();
        k.key = std::move(secret.key);
        k.info.prefix = std::move(secret.prefix);
        const auto r = tx.exec_params(
            "INSERT INTO api_keys (prefix, account_id, key_hash, created_at) "
            "VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            k.info.prefix, account, ToBinary(SecretHash(k.key)), ToMillis(k.info.created_at));
        if (r.affected_rows() == 1) break;
      }
      tx.commit();
      return k;
    });
  });
}

Result<ApiKeyInfo> PgApiKeys::Authenticate(std::string_view key) {
  return PgGuard([&]() -> Result<ApiKeyInfo> {
    auto presented = ParsePresentedApiKey(key);
    if (!presented.ok()) return presented.status();
    return c_.pool->Run([&](pqxx::connection& conn) -> Result<ApiKeyInfo> {
      pqxx::work tx(conn);
      const auto r = tx.exec_params(
          std::string("SELECT ") + kApiKeyColumns + ", key_hash FROM api_keys WHERE prefix = $1",
          presented->prefix);
      std::optional<StoredApiKey> row;
      if (!r.empty()) row = ReadStoredApiKey(PgRow(r[0]));
      auto checked = CheckApiKey(row, *presented);
      if (!checked.ok()) return checked.status();
      ApiKeyInfo info = std::move(checked.value());
      info.last_used_at = c_.Now();
      tx.exec_params("UPDATE api_keys SET last_used_at = $2 WHERE prefix = $1", presented->prefix,
                     ToMillis(*info.last_used_at));
      tx.commit();
      return info;
    });
  });
}

Status PgApiKeys::Revoke(std::string_view prefix_or_key, std::optional<AccountId> owner) {
  return PgGuard([&]() -> Status {
    auto target = ParseRevokeTarget(prefix_or_key);
    if (!target.ok()) return target.status();
    return c_.pool->Run([&](pqxx::connection& conn) -> Status {
      pqxx::work tx(conn);
      const auto r = tx.exec_params(std::string("SELECT ") + kApiKeyColumns +
                                        ", key_hash FROM api_keys WHERE prefix = $1 FOR UPDATE",
                                    target->prefix);
      std::optional<StoredApiKey> row;
      if (!r.empty()) row = ReadStoredApiKey(PgRow(r[0]));
      BGERASE_RETURN_IF_ERROR(CheckRevoke(*target, owner, row));
      tx.exec_params("UPDATE api_keys SET revoked_at = coalesce(revoked_at, $2) WHERE prefix = $1",
                     target->prefix, ToMillis(c_.Now()));
      tx.commit();
      return Status::Ok();
    });
  });
}

Result<std::vector<ApiKeyInfo>> PgApiKeys::List(const AccountId& account) {
  return PgGuard([&]() -> Result<std::vector<ApiKeyInfo>> {
    return c_.pool->Run([&](pqxx::connection& conn) {
      pqxx::read_transaction tx(conn);
      std::vector<ApiKeyInfo> out;
      for (const auto& row :
           tx.exec_params(std::string("SELECT ") + kApiKeyColumns +
                              " FROM api_keys WHERE account_id = $1 ORDER BY created_at, prefix",
                          account)) {
        out.push_back(ReadApiKey(PgRow(row)));
      }
      return out;
    });
  });
}

// ---- Sessions ---------------------------------------------------------------------------------

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

// ---- Usage ----------------------------------------------------------------------------------

Status PgUsage::Record(const AccountId& account, std::uint64_t images) {
  return PgGuard([&]() -> Status {
    return c_.pool->Run([&](pqxx::connection& conn) -> Status {
      pqxx::work tx(conn);
      if (!LockAccount(tx, account, "FOR KEY SHARE")) {
        return refusals::NoSuchAccount();
      }
      tx.exec_params(
          "INSERT INTO usage_daily (account_id, day, images) VALUES ($1, $2, $3) "
          "ON CONFLICT (account_id, day) DO UPDATE SET images = usage_daily.images + "
          "excluded.images",
          account, UtcDay(c_.Now()), static_cast<std::int64_t>(images));
      tx.commit();
      return Status::Ok();
    });
  });
}

Result<std::vector<DailyUsage>> PgUsage::Daily(const AccountId& account, int days) {
  return PgGuard([&]() -> Result<std::vector<DailyUsage>> {
    std::vector<DailyUsage> out = UsageWindow(c_.Now(), days);
    return c_.pool->Run([&](pqxx::connection& conn) {
      pqxx::read_transaction tx(conn);
      for (const auto& row : tx.exec_params(
               "SELECT day, images FROM usage_daily WHERE account_id = $1 AND day >= $2 AND "
               "day <= $3",
               account, out.front().day, out.back().day))
        AddUsage(out, row[0].as<std::string>(), row[1].as<std::uint64_t>());
      return out;
    });
  });
}

Result<std::uint64_t> PgUsage::Total(const AccountId& account) {
  return PgGuard([&]() -> Result<std::uint64_t> {
    return c_.pool->Run([&](pqxx::connection& conn) {
      pqxx::read_transaction tx(conn);
      return tx
          .exec_params1("SELECT coalesce(sum(images), 0) FROM usage_daily WHERE account_id = $1",
                        account)[0]
          .as<std::uint64_t>();
    });
  });
}

}  // namespace bgerase::store::postgres
