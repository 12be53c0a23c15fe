// The embedded backend: every store interface on one SQLite database plus the blob folder, one
// file per interface (sqlite_accounts.cpp, sqlite_objects.cpp, ...; the Core helpers and the store
// itself in sqlite_store.cpp). Internal; users get a Store from OpenStore().
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "store/blob_folder.h"
#include "store/db_error.h"
#include "store/errors.h"
#include "store/reaper.h"
#include "store/refusals.h"
#include "store/sqlite/sqlite_db.h"
#include "store/store.h"

namespace bgerase::store::sqlite {

// State shared by the parts of one SqliteStore.
struct Core {
  std::unique_ptr<SqliteDb> db;
  BlobFolder blobs;
  std::shared_ptr<const Clock> clock;
  RetentionPolicy retention;
  std::function<void(Time)> on_new_expiry;  // wakes the reaper; empty when it does not run

  Time Now() const { return clock->Now(); }

  // The following require db->mutex() held (and, for writes, a Transaction).
  bool AccountExistsLocked(const AccountId& account);
  ConsentState CurrentConsentLocked(const AccountId& account);
  // Inserts the object's row, key included; its blob must already be written.
  void InsertObjectLocked(const ObjectInfo& o, const ObjectKey& key);
  // Deletes the objects matching `where` (an SQL condition using ?1.. as bound by `bind`),
  // appending one deletion-log row each; returns their ids, whose blobs the caller unlinks with
  // Unlink() once the transaction has committed.
  std::vector<ObjectId> DeleteObjectsLocked(std::string_view where,
                                            const std::function<void(Statement&)>& bind,
                                            DeletionReason reason);
  // After commit, with db->mutex() NOT held: unlink the blobs of deleted objects, then push the
  // freed pages out of the WAL (always when `checkpoint`, else only if something was deleted).
  void FinishDeletion(const std::vector<ObjectId>& ids, bool checkpoint = false);
};

class SqliteAccounts final : public AccountStore {
 public:
  explicit SqliteAccounts(Core& c) : c_(c) {}
  Result<Account> Create(std::string_view email, std::optional<std::string_view> password) override;
  Result<Account> FindByEmail(std::string_view email) override;
  Result<Account> FindById(const AccountId& id) override;
  Result<Account> VerifyPassword(std::string_view email, std::string_view password) override;
  Result<std::vector<Account>> List() override;

 private:
  Core& c_;
};

class SqliteApiKeys final : public ApiKeyStore {
 public:
  explicit SqliteApiKeys(Core& c) : c_(c) {}
  Result<NewApiKey> Create(const AccountId& account) override;
  Result<ApiKeyInfo> Authenticate(std::string_view key) override;
  Status Revoke(std::string_view prefix_or_key, std::optional<AccountId> owner) override;
  Result<std::vector<ApiKeyInfo>> List(const AccountId& account) override;

 private:
  Core& c_;
};

class SqliteSessions final : public SessionStore {
 public:
  explicit SqliteSessions(Core& c) : c_(c) {}
  Result<NewSession> Create(const AccountId& account, std::chrono::seconds ttl) override;
  Result<SessionInfo> Validate(std::string_view token) override;
  Status End(std::string_view token) override;
  Result<Bytes> FormKey() override;

 private:
  Core& c_;
};

class SqliteConsentLedger final : public ConsentLedger {
 public:
  explicit SqliteConsentLedger(Core& c) : c_(c) {}
  Result<ConsentState> Grant(const AccountId& account, std::string_view policy_version,
                             ConsentActor actor) override;
  Result<Withdrawal> Withdraw(const AccountId& account, std::string_view policy_version,
                              ConsentActor actor) override;
  Result<ConsentState> Current(const AccountId& account) override;
  Result<std::vector<ConsentEvent>> History(const AccountId& account) override;

 private:
  Core& c_;
};

class SqliteObjects final : public ObjectStore {
 public:
  explicit SqliteObjects(Core& c) : c_(c) {}
  Result<ObjectInfo> Put(const NewObject& object) override;
  Result<StoredObject> Get(const AccountId& owner, const ObjectId& id) override;
  Status Delete(const AccountId& owner, const ObjectId& id) override;

 private:
  Core& c_;
};

class SqliteTrainingPool final : public TrainingPool {
 public:
  explicit SqliteTrainingPool(Core& c) : c_(c) {}
  Result<TrainingItemInfo> AddItem(const NewTrainingItem& item) override;
  Result<DatasetExportReport> ExportDataset(
      const std::filesystem::path& dir,
      const std::function<void(const ItemId&)>& after_item) override;

 private:
  Core& c_;
};

class SqliteJobs final : public JobStore {
 public:
  explicit SqliteJobs(Core& c) : c_(c) {}
  Result<Job> Create(const AccountId& owner, const ObjectId& input_object_id,
                     std::string_view options) override;
  Result<Job> Get(const AccountId& owner, const JobId& id) override;
  Result<std::optional<Job>> Claim(std::string_view worker, std::chrono::seconds lease) override;
  Status Update(const JobId& id, JobStatus status, std::optional<ObjectId> result_object_id,
                std::string_view error) override;

 private:
  Core& c_;
};

class SqliteUsage final : public UsageStore {
 public:
  explicit SqliteUsage(Core& c) : c_(c) {}
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

class SqliteDataRights final : public DataRights {
 public:
  explicit SqliteDataRights(Core& c) : c_(c) {}
  Result<std::vector<ObjectInfo>> ListHeldData(const AccountId& account) override;
  Result<std::size_t> DeleteAllData(const AccountId& account) override;
  Result<std::size_t> DeleteItem(const AccountId& account, const ItemId& item) override;
  Status ExportZip(const AccountId& account, std::ostream& out) override;
  Status DeleteAccount(const AccountId& account, ConsentActor actor) override;

 private:
  Core& c_;
};

class SqliteStore final : public Store {
 public:
  // Opens the database at `db_path` and the blob folder under `options.data_dir`, purges what
  // has expired, sweeps orphaned blobs, and starts the reaper if asked.
  static Result<std::unique_ptr<Store>> Open(const StoreOptions& options,
                                             const std::filesystem::path& db_path);
  ~SqliteStore() override;

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
  explicit SqliteStore(Core core);

  Core core_;
  SqliteAccounts accounts_{core_};
  SqliteApiKeys api_keys_{core_};
  SqliteSessions sessions_{core_};
  SqliteConsentLedger consent_{core_};
  SqliteObjects objects_{core_};
  SqliteTrainingPool training_{core_};
  SqliteJobs jobs_{core_};
  SqliteDataRights data_rights_{core_};
  SqliteUsage usage_{core_};
  std::unique_ptr<Reaper> reaper_;
};

}  // namespace bgerase::store::sqlite
