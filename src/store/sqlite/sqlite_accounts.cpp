// Accounts, API keys, web sessions and usage counts on SQLite. Secrets are hashed before they reach
// a statement: passwords with argon2id, keys and session tokens with BLAKE2b.
#include <algorithm>

#include "store/credentials.h"
#include "store/new_rows.h"
#include "store/row_readers.h"
#include "store/secrets.h"
#include "store/sqlite/sqlite_store.h"
#include "store/usage_window.h"

namespace bgerase::store::sqlite {
// ---- Accounts ---------------------------------------------------------------------------------

Result<Account> SqliteAccounts::Create(std::string_view email,
                                       std::optional<std::string_view> password) {
  return Guard([&]() -> Result<Account> {
    // Hashing takes ~0.1 s and 64 MiB; do it before taking the database lock.
    auto made = NewAccount(email, password, c_.Now());
    if (!made.ok()) return made.status();
    const Account& a = made->account;
    const std::optional<std::string>& hash = made->password_hash;
    std::lock_guard lock(c_.db->mutex());
    Transaction tx(*c_.db);
    auto exists = c_.db->Prepare("SELECT 1 FROM accounts WHERE email = ?1");
    exists.Bind(1, email);
    if (exists.Step()) {
      return refusals::AccountExists(email);
    }
    auto ins = c_.db->Prepare(
        "INSERT INTO accounts (id, email, password_hash, created_at) VALUES (?1, ?2, ?3, ?4)");
    ins.Bind(1, a.id).Bind(2, a.email).Bind(3, hash).Bind(4, ToMillis(a.created_at));
    ins.Run();
    tx.Commit();
    return a;
  });
}

Result<Account> SqliteAccounts::FindByEmail(std::string_view email) {
  return Guard([&]() -> Result<Account> {
    std::lock_guard lock(c_.db->mutex());
    auto q = c_.db->Prepare(std::string("SELECT ") + kAccountColumns +
                            " FROM accounts WHERE email = ?1");
    q.Bind(1, email);
    if (!q.Step()) return refusals::NoAccountFor(email);
    return ReadAccount(q);
  });
}

Result<Account> SqliteAccounts::FindById(const AccountId& id) {
  return Guard([&]() -> Result<Account> {
    std::lock_guard lock(c_.db->mutex());
    auto q =
        c_.db->Prepare(std::string("SELECT ") + kAccountColumns + " FROM accounts WHERE id = ?1");
    q.Bind(1, id);
    if (!q.Step()) return refusals::NoSuchAccount();
    return ReadAccount(q);
  });
}

Result<Account> SqliteAccounts::VerifyPassword(std::string_view email, std::string_view password) {
  return Guard([&]() -> Result<Account> {
    std::optional<Account> account;
    std::string hash;
    {
      std::lock_guard lock(c_.db->mutex());
      auto q = c_.db->Prepare(std::string("SELECT ") + kAccountColumns +
                              ", password_hash FROM accounts WHERE email = ?1");
      q.Bind(1, email);
      if (q.Step()) {
        account = ReadAccount(q);
        hash = q.Text(4);
      }
    }
    return CheckSignIn(std::move(account), hash, password);
  });
}

Result<std::vector<Account>> SqliteAccounts::List() {
  return Guard([&]() -> Result<std::vector<Account>> {
    std::lock_guard lock(c_.db->mutex());
    auto q = c_.db->Prepare(std::string("SELECT ") + kAccountColumns +
                            " FROM accounts ORDER BY created_at, email");
    std::vector<Account> out;
    while (q.Step()) out.push_back(ReadAccount(q));
    return out;
  });
}

// ---- API keys ---------------------------------------------------------------------------------

Result<NewApiKey> SqliteApiKeys::Create(const AccountId& account) {
  return Guard([&]() -> Result<NewApiKey> {
    std::lock_guard lock(c_.db->mutex());
    Transaction tx(*c_.db);
    if (!c_.AccountExistsLocked(account)) return refusals::NoSuchAccount();
    NewApiKey k;
    // The prefix is 32 bits of the key; retry on the rare collision so lookups stay unique.
    for (;;) {
      ApiKeySecret secret = GenerateApiKey();
      k.key = std::move(secret.key);
      k.info.prefix = std::move(secret.prefix);
      auto q = c_.db->Prepare("SELECT 1 FROM api_keys WHERE prefix = ?1");
      q.Bind(1, k.info.prefix);
      if (!q.Step()) break;
    }
    k.info.account = account;
    k.info.created_at = c_.Now();
    auto ins = c_.db->Prepare(
        "INSERT INTO api_keys (prefix, account_id, key_hash, created_at) VALUES (?1, ?2, ?3, ?4)");
    const Bytes hash = SecretHash(k.key);
    ins.Bind(1, k.info.prefix).Bind(2, account).Bind(3, ByteView(hash));
    ins.Bind(4, ToMillis(k.info.created_at));
    ins.Run();
    tx.Commit();
    return k;
  });
}

Result<ApiKeyInfo> SqliteApiKeys::Authenticate(std::string_view key) {
  return Guard([&]() -> Result<ApiKeyInfo> {
    auto presented = ParsePresentedApiKey(key);
    if (!presented.ok()) return presented.status();
    std::lock_guard lock(c_.db->mutex());
    auto q = c_.db->Prepare(std::string("SELECT ") + kApiKeyColumns +
                            ", key_hash FROM api_keys WHERE prefix = ?1");
    q.Bind(1, presented->prefix);
    std::optional<StoredApiKey> row;
    if (q.Step()) row = ReadStoredApiKey(q);
    auto checked = CheckApiKey(row, *presented);
    if (!checked.ok()) return checked.status();
    ApiKeyInfo info = std::move(checked.value());
    info.last_used_at = c_.Now();
    auto upd = c_.db->Prepare("UPDATE api_keys SET last_used_at = ?2 WHERE prefix = ?1");
    upd.Bind(1, presented->prefix).Bind(2, ToMillis(*info.last_used_at));
    upd.Run();
    return info;
  });
}

Status SqliteApiKeys::Revoke(std::string_view prefix_or_key, std::optional<AccountId> owner) {
  return Guard([&]() -> Status {
    auto target = ParseRevokeTarget(prefix_or_key);
    if (!target.ok()) return target.status();
    const std::string& prefix = target->prefix;
    std::lock_guard lock(c_.db->mutex());
    Transaction tx(*c_.db);
    auto q = c_.db->Prepare(std::string("SELECT ") + kApiKeyColumns +
                            ", key_hash FROM api_keys WHERE prefix = ?1");
    q.Bind(1, prefix);
    std::optional<StoredApiKey> row;
    if (q.Step()) row = ReadStoredApiKey(q);
    BGERASE_RETURN_IF_ERROR(CheckRevoke(*target, owner, row));
    auto upd = c_.db->Prepare(
        "UPDATE api_keys SET revoked_at = coalesce(revoked_at, ?2) WHERE prefix = ?1");
    upd.Bind(1, prefix).Bind(2, ToMillis(c_.Now()));
    upd.Run();
    tx.Commit();
    return Status::Ok();
  });
}

Result<std::vector<ApiKeyInfo>> SqliteApiKeys::List(const AccountId& account) {
  return Guard([&]() -> Result<std::vector<ApiKeyInfo>> {
    std::lock_guard lock(c_.db->mutex());
    auto q = c_.db->Prepare(std::string("SELECT ") + kApiKeyColumns +
                            " FROM api_keys WHERE account_id = ?1 ORDER BY created_at, prefix");
    q.Bind(1, account);
    std::vector<ApiKeyInfo> out;
    while (q.Step()) out.push_back(ReadApiKey(q));
    return out;
  });
}

// ---- Sessions ---------------------------------------------------------------------------------

Result<NewSession> SqliteSessions::Create(const AccountId& account, std::chrono::seconds ttl) {
  return Guard([&]() -> Result<NewSession> {
    const Time now = c_.Now();
    auto made = NewSessionFor(account, ttl, now);
    if (!made.ok()) return made.status();
    const NewSession& s = *made;
    {
      std::lock_guard lock(c_.db->mutex());
      Transaction tx(*c_.db);
      if (!c_.AccountExistsLocked(account)) return refusals::NoSuchAccount();
      auto ins = c_.db->Prepare(
          "INSERT INTO sessions (token_hash, account_id, created_at, expires_at) "
          "VALUES (?1, ?2, ?3, ?4)");
      const Bytes hash = SecretHash(s.token);
      ins.Bind(1, ByteView(hash)).Bind(2, account).Bind(3, ToMillis(now));
      ins.Bind(4, ToMillis(s.expires_at));
      ins.Run();
      tx.Commit();
    }
    if (c_.on_new_expiry) c_.on_new_expiry(s.expires_at);
    return s;
  });
}

Result<SessionInfo> SqliteSessions::Validate(std::string_view token) {
  return Guard([&]() -> Result<SessionInfo> {
    const Bytes hash = SecretHash(token);
    std::lock_guard lock(c_.db->mutex());
    auto q = c_.db->Prepare(
        "SELECT account_id, expires_at FROM sessions WHERE token_hash = ?1 AND expires_at > ?2");
    q.Bind(1, ByteView(hash)).Bind(2, ToMillis(c_.Now()));
    if (!q.Step()) return refusals::InvalidSession();
    return SessionInfo{q.Text(0), FromMillis(q.Int(1))};
  });
}

Status SqliteSessions::End(std::string_view token) {
  return Guard([&]() -> Status {
    const Bytes hash = SecretHash(token);
    std::lock_guard lock(c_.db->mutex());
    auto q = c_.db->Prepare("DELETE FROM sessions WHERE token_hash = ?1");
    q.Bind(1, ByteView(hash));
    q.Run();
    return Status::Ok();
  });
}

// ---- Usage ----------------------------------------------------------------------------------

Status SqliteUsage::Record(const AccountId& account, std::uint64_t images) {
  return Guard([&]() -> Status {
    std::lock_guard lock(c_.db->mutex());
    Transaction tx(*c_.db);
    if (!c_.AccountExistsLocked(account)) return refusals::NoSuchAccount();
    auto q = c_.db->Prepare(
        "INSERT INTO usage_daily (account_id, day, images) VALUES (?1, ?2, ?3) "
        "ON CONFLICT (account_id, day) DO UPDATE SET images = images + excluded.images");
    q.Bind(1, account).Bind(2, UtcDay(c_.Now())).Bind(3, static_cast<std::int64_t>(images));
    q.Run();
    tx.Commit();
    return Status::Ok();
  });
}

Result<std::vector<DailyUsage>> SqliteUsage::Daily(const AccountId& account, int days) {
  return Guard([&]() -> Result<std::vector<DailyUsage>> {
    std::vector<DailyUsage> out = UsageWindow(c_.Now(), days);
    std::lock_guard lock(c_.db->mutex());
    auto q = c_.db->Prepare(
        "SELECT day, images FROM usage_daily WHERE account_id = ?1 AND day >= ?2 AND day <= ?3");
    q.Bind(1, account).Bind(2, out.front().day).Bind(3, out.back().day);
    while (q.Step()) AddUsage(out, q.Text(0), static_cast<std::uint64_t>(q.Int(1)));
    return out;
  });
}

Result<std::uint64_t> SqliteUsage::Total(const AccountId& account) {
  return Guard([&]() -> Result<std::uint64_t> {
    std::lock_guard lock(c_.db->mutex());
    auto q =
        c_.db->Prepare("SELECT coalesce(sum(images), 0) FROM usage_daily WHERE account_id = ?1");
    q.Bind(1, account);
    q.Step();
    return static_cast<std::uint64_t>(q.Int(0));
  });
}

}  // namespace bgerase::store::sqlite
