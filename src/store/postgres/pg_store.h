// The shared backend: every store interface on one PostgreSQL database, ciphertext included, so
// any number of replicas can serve the same accounts, ledger, objects and jobs.
// One file per interface (pg_accounts.cpp, pg_objects.cpp, ...; the transaction helpers and the
// store itself in pg_store.cpp). Internal; users get a Store from OpenStore() with a postgres://
// or postgresql:// URL.
//
// Concurrency across replicas rests on row locks of the account: consent changes take
// FOR NO KEY UPDATE, training inserts FOR SHARE (also inside the database trigger), account
// deletion FOR UPDATE; job claims use FOR UPDATE SKIP LOCKED.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "store/db_error.h"
#include "store/errors.h"
#include "store/exports.h"
#include "store/postgres/pg_db.h"
#include "store/reaper.h"
#include "store/refusals.h"
#include "store/store.h"

namespace bgerase::store::postgres {

// State shared by the parts of one PgStore.
struct Core {
  std::unique_ptr<PgPool> pool;
  std::shared_ptr<const Clock> clock;
  RetentionPolicy retention;
  std::function<void(Time)> on_new_expiry;  // wakes the reaper; empty when it does not run

  Time Now() const { return clock->Now(); }
};

// Helpers that work inside a caller's transaction.

// Locks the account row in `mode` ("FOR SHARE", ...); false when there is no such account.
bool LockAccount(pqxx::transaction_base& tx, const AccountId& account, std::string_view mode);
ConsentState CurrentConsent(pqxx::transaction_base& tx, const AccountId& account);
// Appends a ledger row.
void AppendConsent(pqxx::transaction_base& tx, const AccountId& account, bool grant,
                   std::string_view policy_version, ConsentActor actor, Time at);
// Inserts the object's row (with its key) and its blob row (`sealed`, the ciphertext).
void InsertObject(pqxx::transaction_base& tx, const ObjectInfo& o, const ObjectKey& key,
                  const Bytes& sealed);
// Deletes the objects matching `where` — an SQL condition on `objects` whose parameters start at
// $3, bound from `args` — with their keys and blob rows, appending one deletion-log row each
// with `reason` and `now`. Returns how many were deleted.
template <typename... Args>
std::size_t DeleteObjects(pqxx::transaction_base& tx, DeletionReason reason, Time now,
                          const std::string& where, Args&&... args) {
  const auto r =
      tx.exec_params("WITH gone AS (DELETE FROM objects WHERE " + where +
                         " RETURNING id, owner, purpose) "
                         "INSERT INTO deletion_log (object_id, owner, purpose, reason, at) "
                         "SELECT id, owner, purpose, $1, $2 FROM gone",
                     std::string(ToString(reason)), ToMillis(now), std::forward<Args>(args)...);
  return static_cast<std::size_t>(r.affected_rows());
}

// Outside any transaction: the object's ciphertext, opened with its key; "not_found" when the blob
// row is gone (the object was deleted since its key was read).
Result<Bytes> ReadBlob(Core& c, const KeyedObject& p);

class PgAccounts final : public AccountStore {
 public:
  explicit PgAccounts(Core& c) : c_(c) {}
  Result<Account> Create(std::string_view email, std::optional<std::string_view> password) override;
  Result<Account> FindByEmail(std::string_view email) override;
  Result<Account> FindById(const AccountId& id) override;
  Result<Account> VerifyPassword(std::string_view email, std::string_view password) override;
  Result<std::vector<Account>> List() override;

 private:
  Core& c_;
};

class PgApiKeys final : public ApiKeyStore {
 public:
  explicit PgApiKeys(Core& c) : c_(c) {}
  Result<NewApiKey> Create(const AccountId& account) override;
  Result<ApiKeyInfo> Authenticate(std::string_view key) override;
  Status Revoke(std::string_view prefix_or_key, std::optional<AccountId> owner) override;
  Result<std::vector<ApiKeyInfo>> List(const AccountId& account) override;

 private:
  Core& c_;
};

class PgSessions final : public SessionStore {
 public:
  explicit PgSessions(Core& c) : c_(c) {}
  Result<NewSession> Create(const AccountId& account, std::chrono::seconds ttl) override;
  Result<SessionInfo> Validate(std::string_view token) override;
  Status End(std::string_view token) override;
  Result<Bytes> FormKey() override;

 private:
  Core& c_;
};

class PgConsentLedger final : public ConsentLedger {
 public:
  explicit PgConsentLedger(Core& c) : c_(c) {}
  Result<ConsentState> Grant(const AccountId& account, std::string_view policy_version,
                             ConsentActor actor) override;
  Result<Withdrawal> Withdraw(const AccountId& account, std::string_view policy_version,
                              ConsentActor actor) override;
  Result<ConsentState> Current(const AccountId& account) override;
  Result<std::vector<ConsentEvent>> History(const AccountId& account) override;

 private:
  Core& c_;
};

class PgObjects final : public ObjectStore {
 public:
  explicit PgObjects(Core& c) : c_(c) {}
  Result<ObjectInfo> Put(const NewObject& object) override;
  Result<StoredObject> Get(const AccountId& owner, const ObjectId& id) override;
  Status Delete(const AccountId& owner, const ObjectId& id) override;

 private:
  Core& c_;
};

class PgTrainingPool final : public TrainingPool {
 public:
  explicit PgTrainingPool(Core& c) : c_(c) {}
  Result<TrainingItemInfo> AddItem(const NewTrainingItem& item) override;
  Result<DatasetExportReport> ExportDataset(
      const std::filesystem::path& dir,
      const std::function<void(const ItemId&)>& after_item) override;

 private:
  Core& c_;
};

class PgJobs final : public JobStore {
 public:
  explicit PgJobs(Core& c) : c_(c) {}
  Result<Job> Create(const AccountId& owner, const ObjectId& input_object_id,
                     std::string_view options) override;
  Result<Job> Get(const AccountId& owner, const JobId& id) override;
  Result<std::optional<Job>> Claim(std::string_view worker, std::chrono::seconds lease) override;
  Status Update(const JobId& id, JobStatus status, std::optional<ObjectId> result_object_id,
                std::string_view error) override;

 private:
  Core& c_;
};

class PgUsage final : public UsageStore {
 public:
  explicit PgUsage(Core& c) : c_(c) {}
  Status Record(const AccountId& account, std::uint64_t images) override;
  Result<std::vector<DailyUsage>> Daily(const AccountId& account, int days) override;
  Result<std::uint64_t> Total(const AccountId& account) override;
  Result<CreditState> Credits(const AccountId& account) override;
  Status Charge(const AccountId& account, std::int64_t quarters) override;
  Status Refund(const AccountId& account, std::int64_t quarters, Time charged_at) override;
  Status SetAllowance(const AccountId& account, std::optional<std::int64_t> quarters) override;

 private:
  Core& c_;
};

class PgDataRights final : public DataRights {
 public:
  explicit PgDataRights(Core& c) : c_(c) {}
  Result<std::vector<ObjectInfo>> ListHeldData(const AccountId& account) override;
  Result<std::size_t> DeleteAllData(const AccountId& account) override;
  Result<std::size_t> DeleteItem(const AccountId& account, const ItemId& item) override;
  Status ExportZip(const AccountId& account, std::ostream& out) override;
  Status DeleteAccount(const AccountId& account, ConsentActor actor) override;

 private:
  Core& c_;
};

class PgStore final : public Store {
 public:
  // Connects to `url`, applies pending migrations, purges what has expired, and starts the
  // reaper if asked.
  static Result<std::unique_ptr<Store>> Open(const StoreOptions& options, const std::string& url);
  ~PgStore() override;

  AccountStore& accounts() override { return accounts_; }
  ApiKeyStore& api_keys() override { return api_keys_; }
  SessionStore& sessions() override { return sessions_; }
  ConsentLedger& consent() override { return consent_; }
  ObjectStore& objects() override { return objects_; }
  TrainingPool& training() override { return training_; }
  JobStore& jobs() override { return jobs_; }
  DataRights& data_rights() override { return data_rights_; }
  UsageStore& usage() override { return usage_; }
  const RetentionPolicy& retention() const override { return core_.retention; }
  const Clock& clock() const override { return *core_.clock; }

  Result<PurgeReport> PurgeExpired() override;
  Result<std::optional<Time>> NextExpiry() override;
  Result<std::map<std::string, std::uint64_t>> DeletionCounts() override;
  Status Health() override;

 private:
  explicit PgStore(Core core);

  Core core_;
  PgAccounts accounts_{core_};
  PgApiKeys api_keys_{core_};
  PgSessions sessions_{core_};
  PgConsentLedger consent_{core_};
  PgObjects objects_{core_};
  PgTrainingPool training_{core_};
  PgJobs jobs_{core_};
  PgDataRights data_rights_{core_};
  PgUsage usage_{core_};
  std::unique_ptr<Reaper> reaper_;
};

}  // namespace bgerase::store::postgres
