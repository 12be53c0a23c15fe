// AccountStore on PostgreSQL. Passwords reach a statement only as argon2id hashes (credentials.h);
// emails are unique case-insensitively, which the unique index decides across replicas.
#include "store/credentials.h"
#include "store/new_rows.h"
#include "store/postgres/pg_store.h"
#include "store/refusals.h"
#include "store/row_readers.h"

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

}  // namespace bgerase::store::postgres
