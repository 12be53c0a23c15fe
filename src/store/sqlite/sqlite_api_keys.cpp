// ApiKeyStore on SQLite. A key reaches a statement only as its BLAKE2b hash and public prefix.
#include "store/credentials.h"
#include "store/refusals.h"
#include "store/row_readers.h"
#include "store/secrets.h"
#include "store/sqlite/sqlite_store.h"

namespace bgerase::store::sqlite {

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
    std::optional<StoredApiKey> row;
    {
      // Finished before the UPDATE below: a SELECT left stepping holds its read snapshot open,
      // and upgrading that to a write after another replica committed fails at once with
      // "database is locked" (SQLITE_BUSY_SNAPSHOT; the busy timeout does not apply).
      auto q = c_.db->Prepare(std::string("SELECT ") + kApiKeyColumns +
                              ", key_hash FROM api_keys WHERE prefix = ?1");
      q.Bind(1, presented->prefix);
      if (q.Step()) row = ReadStoredApiKey(q);
    }
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

}  // namespace bgerase::store::sqlite
