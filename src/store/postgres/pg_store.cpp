// PgStore: opening, the transaction helpers, the consent ledger, jobs and purging.
#include "store/postgres/pg_store.h"

#include <sodium.h>

#include "store/consent_rules.h"
#include "store/new_rows.h"
#include "store/row_readers.h"

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

// ---- Consent ledger ---------------------------------------------------------------------------

Result<ConsentState> PgConsentLedger::Grant(const AccountId& account,
                                            std::string_view policy_version, ConsentActor actor) {
  return PgGuard([&]() -> Result<ConsentState> {
    BGERASE_RETURN_IF_ERROR(CheckPolicyVersion(policy_version));
    return c_.pool->Run([&](pqxx::connection& conn) -> Result<ConsentState> {
      pqxx::work tx(conn);
      if (!LockAccount(tx, account, "FOR NO KEY UPDATE")) {
        return refusals::NoSuchAccount();
      }
      ConsentState cur = CurrentConsent(tx, account);
      if (cur.opted_in) return cur;
      AppendConsent(tx, account, true, policy_version, actor, c_.Now());
      ConsentState s = CurrentConsent(tx, account);
      tx.commit();
      return s;
    });
  });
}

Result<Withdrawal> PgConsentLedger::Withdraw(const AccountId& account,
                                             std::string_view policy_version, ConsentActor actor) {
  return PgGuard([&]() -> Result<Withdrawal> {
    BGERASE_RETURN_IF_ERROR(CheckPolicyVersion(policy_version));
    return c_.pool->Run([&](pqxx::connection& conn) -> Result<Withdrawal> {
      pqxx::work tx(conn);
      // The row lock waits for training inserts in flight (they hold FOR SHARE) and holds off
      // new ones until the ledger row and the deletions below have committed.
      if (!LockAccount(tx, account, "FOR NO KEY UPDATE")) {
        return refusals::NoSuchAccount();
      }
      Withdrawal w;
      ConsentState cur = CurrentConsent(tx, account);
      if (!cur.opted_in) {
        w.state = cur;
        return w;
      }
      const Time now = c_.Now();
      AppendConsent(tx, account, false, policy_version, actor, now);
      // Same transaction as the ledger row: either both happen or neither.
      w.training_objects_deleted = DeleteObjects(tx, DeletionReason::kConsentWithdrawn, now,
                                                 "owner = $3 AND purpose = 'training'", account);
      w.state = CurrentConsent(tx, account);
      tx.commit();
      return w;
    });
  });
}

Result<ConsentState> PgConsentLedger::Current(const AccountId& account) {
  return PgGuard([&]() -> Result<ConsentState> {
    return c_.pool->Run([&](pqxx::connection& conn) -> Result<ConsentState> {
      pqxx::read_transaction tx(conn);
      if (!LockAccount(tx, account, "")) return refusals::NoSuchAccount();
      return CurrentConsent(tx, account);
    });
  });
}

Result<std::vector<ConsentEvent>> PgConsentLedger::History(const AccountId& account) {
  return PgGuard([&]() -> Result<std::vector<ConsentEvent>> {
    return c_.pool->Run([&](pqxx::connection& conn) {
      pqxx::read_transaction tx(conn);
      const auto r = tx.exec_params(std::string("SELECT ") + kConsentEventColumns +
                                        " FROM consent_events WHERE account_id = $1 ORDER BY id",
                                    account);
      std::vector<ConsentEvent> out;
      for (const auto& row : r) {
        out.push_back(ReadConsentEvent(PgRow(row), account));
      }
      return out;
    });
  });
}

// ---- Jobs ---------------------------------------------------------------------------------------

Result<Job> PgJobs::Create(const AccountId& owner, const ObjectId& input_object_id,
                           std::string_view options) {
  return PgGuard([&]() -> Result<Job> {
    const Job job = NewQueuedJob(owner, input_object_id, options, c_.Now(), c_.retention);
    Status st = c_.pool->Run([&](pqxx::connection& conn) -> Status {
      pqxx::work tx(conn);
      // FOR KEY SHARE: the input cannot be deleted under us before the job row commits.
      const auto input = tx.exec_params(
          "SELECT 1 FROM objects WHERE id = $1 AND owner = $2 AND expires_at > $3 FOR KEY SHARE",
          input_object_id, owner, ToMillis(job.created_at));
      if (input.empty()) return refusals::NoSuchInputObject();
      tx.exec_params(
          "INSERT INTO jobs (id, owner, status, created_at, updated_at, expires_at, "
          "input_object_id, options) VALUES ($1, $2, 'queued', $3, $3, $4, $5, $6)",
          job.id, owner, ToMillis(job.created_at), ToMillis(job.expires_at), input_object_id,
          job.options);
      tx.commit();
      return Status::Ok();
    });
    if (!st.ok()) return st;
    if (c_.on_new_expiry) c_.on_new_expiry(job.expires_at);
    return job;
  });
}

Result<Job> PgJobs::Get(const AccountId& owner, const JobId& id) {
  return PgGuard([&]() -> Result<Job> {
    return c_.pool->Run([&](pqxx::connection& conn) -> Result<Job> {
      pqxx::read_transaction tx(conn);
      const auto r =
          tx.exec_params(std::string("SELECT ") + kJobColumns +
                             " FROM jobs WHERE id = $1 AND owner = $2 AND expires_at > $3",
                         id, owner, ToMillis(c_.Now()));
      if (r.empty()) return refusals::NoSuchJob();
      return ReadJob(PgRow(r[0]));
    });
  });
}

Result<std::optional<Job>> PgJobs::Claim(std::string_view worker, std::chrono::seconds lease) {
  return PgGuard([&]() -> Result<std::optional<Job>> {
    return c_.pool->Run([&](pqxx::connection& conn) -> Result<std::optional<Job>> {
      pqxx::work tx(conn);
      const std::int64_t now = ToMillis(c_.Now());
      // SKIP LOCKED: replicas claiming at the same moment take different jobs instead of
      // queueing on one; a row another claimer changed meanwhile is re-checked and skipped.
      const auto r = tx.exec_params(
          std::string("UPDATE jobs SET status = 'running', claimed_by = $2, claimed_at = $1, "
                      "updated_at = $1, attempts = attempts + 1 WHERE id = ("
                      "SELECT id FROM jobs WHERE expires_at > $1 AND (status = 'queued' OR "
                      "(status = 'running' AND claimed_at <= $3)) ORDER BY created_at LIMIT 1 "
                      "FOR UPDATE SKIP LOCKED) RETURNING ") +
              kJobColumns,
          now, std::string(worker),
          now - std::chrono::duration_cast<std::chrono::milliseconds>(lease).count());
      tx.commit();
      if (r.empty()) return std::optional<Job>();
      return std::optional<Job>(ReadJob(PgRow(r[0])));
    });
  });
}

Status PgJobs::Update(const JobId& id, JobStatus status, std::optional<ObjectId> result_object_id,
                      std::string_view error) {
  return PgGuard([&]() -> Status {
    return c_.pool->Run([&](pqxx::connection& conn) -> Status {
      pqxx::work tx(conn);
      const std::int64_t now = ToMillis(c_.Now());
      const auto r = tx.exec_params(
          "UPDATE jobs SET status = $2, result_object_id = $3, error = $4, updated_at = $5 "
          "WHERE id = $1 AND expires_at > $5",
          id, std::string(ToString(status)), result_object_id, std::string(error), now);
      tx.commit();
      if (r.affected_rows() == 0) return refusals::NoSuchJob();
      return Status::Ok();
    });
  });
}

// ---- The store -------------------------------------------------------------------------------

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
