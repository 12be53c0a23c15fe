// SessionStore on SQLite. A token reaches a statement only as its BLAKE2b hash.
#include "store/new_rows.h"
#include "store/refusals.h"
#include "store/secrets.h"
#include "store/sqlite/sqlite_store.h"

namespace bgerase::store::sqlite {

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

Result<Bytes> SqliteSessions::FormKey() {
  return Guard([&]() -> Result<Bytes> {
    std::lock_guard lock(c_.db->mutex());
    // The first caller's key wins; every later one reads it.
    auto ins = c_.db->Prepare(
        "INSERT INTO server_secrets (name, secret) VALUES ('form_key', ?1) "
        "ON CONFLICT (name) DO NOTHING");
    const Bytes fresh = RandomBytes(kFormKeyBytes);
    ins.Bind(1, ByteView(fresh));
    ins.Run();
    auto q = c_.db->Prepare("SELECT secret FROM server_secrets WHERE name = 'form_key'");
    if (!q.Step()) return Status(errors::kStorageError, "the form key could not be read");
    return q.Blob(0);
  });
}

}  // namespace bgerase::store::sqlite
