// ApiKeyStore on PostgreSQL. A key reaches a statement only as its BLAKE2b hash and public prefix.
#include "store/credentials.h"
#include "store/postgres/pg_store.h"
#include "store/refusals.h"
#include "store/row_readers.h"
#include "store/secrets.h"

namespace bgerase::store::postgres {

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

}  // namespace bgerase::store::postgres
