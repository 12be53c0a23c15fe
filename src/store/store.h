// The store: one handle on accounts, keys, sessions, consent, objects, training pool, jobs, usage
// and data rights, whatever the backend. OpenStore picks the backend from the database URL.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"
#include "store/account_store.h"
#include "store/api_key_store.h"
#include "store/clock.h"
#include "store/consent_ledger.h"
#include "store/data_rights.h"
#include "store/job_store.h"
#include "store/object_store.h"
#include "store/retention_policy.h"
#include "store/session_store.h"
#include "store/training_pool.h"
#include "store/usage_store.h"

namespace bgerase::store {

struct StoreOptions {
  // Holds the blob folder (data/blobs) and, unless database_url says otherwise, the SQLite file
  // (data/bgerase.db). Created with mode 0700 if missing; unused with PostgreSQL.
  std::filesystem::path data_dir = "data";
  // Empty or "sqlite:PATH" for the embedded backend; "postgres://..." or "postgresql://..." (any
  // libpq connection URI) for the shared one, which keeps everything, ciphertext included, in
  // PostgreSQL and leaves data_dir unused. Anything else is "unsupported_database".
  std::string database_url;
  RetentionPolicy retention;
  std::shared_ptr<const Clock> clock;  // null: the system clock
  // Whether to run the background reaper. Purging at open happens regardless.
  bool run_reaper = true;
  // The reaper wakes at the next expires_at and at least this often.
  std::chrono::milliseconds reaper_max_interval = std::chrono::minutes(1);
};

// Builds StoreOptions from command-line style flags (shared by `serve`, `admin`, `dataset`).
// `retention` empty means the default. Errors: "invalid_retention", "unsupported_database".
Result<StoreOptions> StoreOptionsFromFlags(const std::string& data_dir,
                                           const std::string& database_url,
                                           const std::string& retention);

// What one purge pass deleted.
struct PurgeReport {
  std::size_t objects = 0;
  std::size_t jobs = 0;
  std::size_t sessions = 0;
};

// The handle. Its parts are thread-safe and live as long as the Store; destroying the Store stops
// the reaper and closes the database.
class Store {
 public:
  virtual ~Store() = default;

  virtual AccountStore& accounts() = 0;
  virtual ApiKeyStore& api_keys() = 0;
  virtual SessionStore& sessions() = 0;
  virtual ConsentLedger& consent() = 0;
  virtual ObjectStore& objects() = 0;
  virtual TrainingPool& training() = 0;
  virtual JobStore& jobs() = 0;
  virtual DataRights& data_rights() = 0;
  virtual UsageStore& usage() = 0;

  virtual const RetentionPolicy& retention() const = 0;
  virtual const Clock& clock() const = 0;

  // Deletes everything whose time has come (objects, jobs, sessions). The reaper calls this;
  // callers may too.
  virtual Result<PurgeReport> PurgeExpired() = 0;
  // The earliest expires_at of any live object or job, if any.
  virtual Result<std::optional<Time>> NextExpiry() = 0;

  // Objects deleted since the store was created, by reason ("expired", ...), from the deletion
  // log; monotonic, for /metrics.
  virtual Result<std::map<std::string, std::uint64_t>> DeletionCounts() = 0;

  // OK when the database answers; for readiness checks.
  virtual Status Health() = 0;
};

// Opens (creating or migrating as needed) the store described by `options`, deletes everything
// already expired, and only then returns — so a server that opens its store before listening
// never serves data that expired while it was down, even after a crash. Then starts the reaper
// if asked.
Result<std::unique_ptr<Store>> OpenStore(const StoreOptions& options);

}  // namespace bgerase::store
