// AccountStore on SQLite. Passwords reach a statement only as argon2id hashes (credentials.h).
#include "store/credentials.h"
#include "store/new_rows.h"
#include "store/refusals.h"
#include "store/row_readers.h"
#include "store/sqlite/sqlite_store.h"

namespace bgerase::store::sqlite {

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

}  // namespace bgerase::store::sqlite
