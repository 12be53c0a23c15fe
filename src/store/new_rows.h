// Row builders: the rows a backend inserts, with fresh ids, keys and tokens, built the same way
// for every database. Internal to src/store. Times that must follow commit order (an object's
// created_at and expires_at) are left for the backend to set inside its transaction.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "store/account_store.h"
#include "store/blob_cipher.h"
#include "store/job_store.h"
#include "store/object_store.h"
#include "store/retention_policy.h"
#include "store/session_store.h"
#include "store/training_pool.h"
#include "store/types.h"

namespace bgerase::store {

// An account about to be inserted, with its password already hashed.
struct NewAccountRow {
  Account account;
  std::optional<std::string> password_hash;  // argon2id; nullopt for API-only accounts
};
// AccountStore::Create's row, created now: "invalid_email" or "weak_password" as CheckEmail and
// HashPassword (credentials.h) decide. Slow (the hash): call it before taking a database lock.
Result<NewAccountRow> NewAccount(std::string_view email, std::optional<std::string_view> password,
                                 Time now);

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

// A queued job created now, expiring with the retention rule.
Job NewQueuedJob(const AccountId& owner, const ObjectId& input_object_id, std::string_view options,
                 Time now, const RetentionPolicy& retention);
// A session starting now with a fresh token; "invalid_argument" unless `ttl` is positive.
Result<NewSession> NewSessionFor(const AccountId& account, std::chrono::seconds ttl, Time now);

}  // namespace bgerase::store
