// What every database backend of the store does the same way: ids and secret hashes, account and
// API-key rules, the error guard, and the layout of data exports and training datasets. Internal
// to src/store; the backends (sqlite/, postgres/) call these so their behaviour cannot drift.
#pragma once

#include <cstdint>
#include <exception>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <ostream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "store/account_store.h"
#include "store/api_key_store.h"
#include "store/blob_cipher.h"
#include "store/consent_ledger.h"
#include "store/errors.h"
#include "store/job_store.h"
#include "store/object_store.h"
#include "store/retention_policy.h"
#include "store/session_store.h"
#include "store/training_pool.h"
#include "store/types.h"
#include "store/usage_store.h"

namespace bgerase::store {

class Reaper;
class Store;
struct StoreOptions;

// A failure inside a backend, carrying the Status to return.
class DbError : public std::runtime_error {
 public:
  explicit DbError(Status s) : std::runtime_error(s.ToString()), status_(std::move(s)) {}
  const Status& status() const { return status_; }

 private:
  Status status_;
};

// Runs `f`, turning backend exceptions into the Status its Result/Status return type carries.
template <typename F>
auto Guard(F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const DbError& e) {
    return e.status();
  } catch (const std::exception& e) {
    return Status(errors::kDatabaseError, e.what());
  }
}

// UsageStore::Daily's answer before the counts are read: the last `days` UTC days ending at
// `now`'s (clamped to 1..366), oldest first, each at zero. Both backends fill it with AddUsage.
std::vector<DailyUsage> UsageWindow(Time now, int days);
// Sets the count of `day` in `window`; days outside the window are ignored.
void AddUsage(std::vector<DailyUsage>& window, const std::string& day, std::uint64_t images);

// "prefix" + 32 random hex digits.
std::string RandomId(std::string_view prefix);
// 32 random bytes as 64 hex digits.
std::string RandomHex32();
// BLAKE2b-256, for API keys and session tokens (high-entropy secrets need no slow hash).
Bytes SecretHash(std::string_view secret);
// Constant-time comparison of two SecretHash values.
bool SecretHashEquals(const Bytes& stored, const Bytes& presented);
// Overwrites `bytes` with zeros (sodium_memzero), for key material that leaves scope.
void WipeBytes(Bytes& bytes);

// Starts the reaper of a newly opened `store` if `options` ask for it, and points
// `on_new_expiry` (the backend's hook for "something expiring sooner was stored") at it.
// Null when the reaper does not run. The store must outlive the reaper.
std::unique_ptr<Reaper> StartReaper(Store& store, const StoreOptions& options,
                                    std::function<void(Time)>& on_new_expiry);

// ---- Accounts -----------------------------------------------------------------------------------

// "invalid_email" unless `email` looks like one address.
Status CheckEmail(std::string_view email);
// The argon2id string for `password` (nullopt for API-only accounts); "weak_password" when it is
// under 8 characters. Slow (~0.1 s, 64 MiB): call it before taking any database lock.
Result<std::optional<std::string>> HashPassword(std::optional<std::string_view> password);
// Whether `password` matches `hash` (an argon2id string, empty for API-only accounts). Without a
// hash it checks against a dummy one, so unknown emails cost the same time as known ones.
bool PasswordMatches(const std::string& hash, std::string_view password);
// The sign-in verdict for the row a backend found (`account` null when the email is unknown,
// `hash` its password hash): the hash check always runs, the dummy one for an unknown email, so
// the answer's timing does not tell which emails have accounts. "invalid_credentials" otherwise.
Result<Account> CheckSignIn(std::optional<Account> account, const std::string& hash,
                            std::string_view password);

// ---- API keys -----------------------------------------------------------------------------------

// A fresh key ("bge_" + 64 hex) and its public prefix (its first 8 hex digits).
struct ApiKeySecret {
  std::string key;
  std::string prefix;
};
ApiKeySecret GenerateApiKey();
// The public prefix of a well-formed full key; nullopt for anything else.
std::optional<std::string> ApiKeyPrefix(std::string_view key);

// What Revoke was given: a prefix, or a full key whose hash must then match too.
struct RevokeTarget {
  std::string prefix;
  std::optional<Bytes> key_hash;  // set when a full key was given
};
// "not_found" when `prefix_or_key` is neither (with or without "bge_").
Result<RevokeTarget> ParseRevokeTarget(std::string_view prefix_or_key);

// ---- New rows -----------------------------------------------------------------------------------

// An object about to be stored: metadata with fresh ids, a fresh key, and the plaintext
// (borrowed from the caller). created_at and expires_at are the backend's to set, inside its
// transaction.
struct PendingObject {
  ObjectInfo info;
  ObjectKey key{};
  ByteView bytes;
};
// ObjectStore::Put's object (purpose processing; a new item unless one is named).
// "invalid_argument" without a MIME type.
Result<PendingObject> NewProcessingObject(const NewObject& object);
// TrainingPool::AddItem's input (and mask), sharing a fresh item id. "invalid_argument" without
// MIME types.
Result<std::vector<PendingObject>> NewTrainingObjects(const NewTrainingItem& item);
// What AddItem returns once `objects` (from NewTrainingObjects) are stored.
TrainingItemInfo TrainingItemOf(const std::vector<PendingObject>& objects);
// OK when `consent` (the owner's current state) is the grant `event`; "consent_not_active"
// otherwise.
Status CheckTrainingConsent(const ConsentState& consent, ConsentEventId event);
// A queued job created now, expiring with the retention rule.
Job NewQueuedJob(const AccountId& owner, const ObjectId& input_object_id, std::string_view options,
                 Time now, const RetentionPolicy& retention);
// A session starting now with a fresh token; "invalid_argument" unless `ttl` is positive.
Result<NewSession> NewSessionFor(const AccountId& account, std::chrono::seconds ttl, Time now);

// ---- Parsing what the database holds
// --------------------------------------------------------------

std::optional<JobStatus> ParseJobStatus(std::string_view s);
ConsentActor ParseConsentActor(std::string_view s);

// ---- Exports ------------------------------------------------------------------------------------

// An object's metadata with its key, as a backend reads it before fetching the ciphertext.
struct KeyedObject {
  ObjectInfo info;
  ObjectKey key{};
};

// How the dataset export reaches a backend's data.
struct DatasetSource {
  // Every training item id, oldest first.
  std::function<std::vector<ItemId>()> items;
  // The item's objects (input before mask), or nullopt when the grant that admitted it is no
  // longer its owner's latest ledger event or the item is gone: the per-item consent re-check.
  std::function<std::optional<std::vector<KeyedObject>>(const ItemId&)> consented_parts;
  // The object's plaintext; "not_found" when it was deleted meanwhile.
  std::function<Result<Bytes>(const KeyedObject&)> read;
};
// TrainingPool::ExportDataset's contract (layout, manifest, re-check, never half an item),
// over any backend.
Result<DatasetExportReport> ExportDatasetTo(const std::filesystem::path& dir,
                                            const std::function<void(const ItemId&)>& after_item,
                                            const DatasetSource& source);

// What DataRights::ExportZip writes about an account besides its objects.
struct AccountExport {
  AccountId id;
  std::string email;
  Time created_at{};
  std::vector<ConsentEvent> consent_history;
  std::vector<ApiKeyInfo> api_keys;
  std::vector<KeyedObject> objects;  // live objects, in listing order
};
// DataRights::ExportZip's layout: objects/<id>.<ext> for each object `read` still finds, then
// data.json. Wipes the keys in `account` as it goes.
Status WriteExportZip(AccountExport& account, Time now,
                      const std::function<Result<Bytes>(const KeyedObject&)>& read,
                      std::ostream& out);

}  // namespace bgerase::store
