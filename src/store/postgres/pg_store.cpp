// PgStore: opening, purging, and the transaction helpers its parts share.
#include "store/postgres/pg_store.h"

#include <sodium.h>

#include "store/refusals.h"

namespace bgerase::store::postgres {

namespace {

// Connections per store handle: enough for a server's request threads to overlap their short
// transactions; more would only queue inside PostgreSQL.
constexpr std::size_t kPoolSize = 8;

}  // namespace

bool LockAccount(pqxx::transaction_base& tx, const AccountId& account, std::string_view mode) {
  return !tx.exec_params("SELECT 1 FROM accounts WHERE id = $1 " + std::string(mode), account)
              .empty();
}

ConsentState CurrentConsent(pqxx::transaction_base& tx, const AccountId& account) {
  const auto r = tx.exec_params(
      "SELECT id, action, policy_version, at FROM consent_events WHERE account_id = $1 "
      "ORDER BY id DESC LIMIT 1",
      account);
  ConsentState s;
  if (!r.empty()) {
    s.event_id = r[0][0].as<std::int64_t>();
    s.opted_in = r[0][1].as<std::string>() == "grant";
    s.policy_version = r[0][2].as<std::string>();
    s.changed_at = FromMillis(r[0][3].as<std::int64_t>());
  }
  return s;
}

void AppendConsent(pqxx::transaction_base& tx, const AccountId& account, bool grant,
                   std::string_view policy_version, ConsentActor actor, Time at) {
  tx.exec_params(
      "INSERT INTO consent_events (account_id, action, policy_version, actor, at) "
      "VALUES ($1, $2, $3, $4, $5)",
      account, std::string(grant ? "grant" : "withdraw"), std::string(policy_version),
      std::string(ToString(actor)), ToMillis(at));
}

void InsertObject(pqxx::transaction_base& tx, const ObjectInfo& o, const ObjectKey& key,
                  const Bytes& sealed) {
  std::optional<std::int64_t> expires;
  if (o.expires_at) expires = ToMillis(*o.expires_at);
  tx.exec_params(
      "INSERT INTO objects (id, owner, item_id, kind, purpose, on_behalf_of, mime, size, "
      "created_at, expires_at, consent_event_id, object_key) "
      "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
      o.id, o.owner, o.item_id, std::string(ToString(o.kind)), std::string(ToString(o.purpose)),
      o.on_behalf_of, o.mime, static_cast<std::int64_t>(o.size), ToMillis(o.created_at), expires,
      o.consent_event_id, ToBinary(ByteView(key.data(), key.size())));
  tx.exec_params("INSERT INTO blobs (object_id, data) VALUES ($1, $2)", o.id, ToBinary(sealed));
}

Result<Bytes> ReadBlob(Core& c, const KeyedObject& p) {
  std::optional<Bytes> sealed = c.pool->Run([&](pqxx::connection& conn) {
    pqxx::read_transaction tx(conn);
    const auto r = tx.exec_params("SELECT data FROM blobs WHERE object_id = $1", p.info.id);
    return r.empty() ? std::optional<Bytes>() : std::optional<Bytes>(PgRow(r[0]).Blob(0));
  });
  if (!sealed) return refusals::NoSuchObject();
  return OpenBlob(p.key, p.info.id, *sealed);
}

// ---- The store ----------------------------------------------------------------------------------

PgStore::PgStore(Core core) : core_(std::move(core)) {}

PgStore::~PgStore() {
  if (reaper_) reaper_->Stop();
}

Result<std::unique_ptr<Store>> PgStore::Open(const StoreOptions& options, const std::string& url) {
  return PgGuard([&]() -> Result<std::unique_ptr<Store>> {
    if (sodium_init() < 0) return Status(errors::kStorageError, "libsodium failed to initialise");
    Core core{std::make_unique<PgPool>(url, kPoolSize),
              options.clock ? options.clock : DefaultClock(), options.retention, nullptr};
    core.pool->Run([](pqxx::connection& conn) {
      Migrate(conn);
      return 0;
    });
    std::unique_ptr<PgStore> store(new PgStore(std::move(core)));

    // Before anyone gets the handle: whatever expired while this replica (or all of them) was
    // down goes now. Ciphertext lives in the same transaction as its row, so there are no
    // orphaned blobs to sweep, unlike the blob folder.
    auto purged = store->PurgeExpired();
    if (!purged.ok()) return purged.status();

    store->reaper_ = StartReaper(*store, options, store->core_.on_new_expiry);
    return std::unique_ptr<Store>(std::move(store));
  });
}

Result<PurgeReport> PgStore::PurgeExpired() {
  return PgGuard([&]() -> Result<PurgeReport> {
    return core_.pool->Run([&](pqxx::connection& conn) {
      PurgeReport report;
      pqxx::work tx(conn);
      const Time now = core_.Now();
      const std::int64_t ms = ToMillis(now);
      report.objects = DeleteObjects(tx, DeletionReason::kExpired, now,
                                     "expires_at IS NOT NULL AND expires_at <= $3", ms);
      report.jobs = static_cast<std::size_t>(
          tx.exec_params("DELETE FROM jobs WHERE expires_at <= $1", ms).affected_rows());
      report.sessions = static_cast<std::size_t>(
          tx.exec_params("DELETE FROM sessions WHERE expires_at <= $1", ms).affected_rows());
      tx.commit();
      return report;
    });
  });
}

Result<std::optional<Time>> PgStore::NextExpiry() {
  return PgGuard([&]() -> Result<std::optional<Time>> {
    return core_.pool->Run([&](pqxx::connection& conn) {
      pqxx::read_transaction tx(conn);
      const auto r = tx.exec(
          "SELECT least((SELECT min(expires_at) FROM objects WHERE expires_at IS NOT NULL), "
          "(SELECT min(expires_at) FROM jobs), (SELECT min(expires_at) FROM sessions))");
      std::optional<Time> next;
      if (auto v = PgRow(r[0]).OptInt(0)) next = FromMillis(*v);
      return next;
    });
  });
}

Result<std::map<std::string, std::uint64_t>> PgStore::DeletionCounts() {
  return PgGuard([&]() -> Result<std::map<std::string, std::uint64_t>> {
    return core_.pool->Run([&](pqxx::connection& conn) {
      pqxx::read_transaction tx(conn);
      std::map<std::string, std::uint64_t> out;
      for (const auto& row : tx.exec("SELECT reason, count(*) FROM deletion_log GROUP BY reason")) {
        out[row[0].as<std::string>()] = row[1].as<std::uint64_t>();
      }
      return out;
    });
  });
}

Status PgStore::Health() {
  return PgGuard([&]() -> Status {
    return core_.pool->Run([](pqxx::connection& conn) {
      pqxx::nontransaction tx(conn);
      tx.exec("SELECT 1");
      return Status::Ok();
    });
  });
}

}  // namespace bgerase::store::postgres
