// Column lists and row readers shared by the SQL backends, whose tables have the same columns:
// a row is read the same way whichever database returned it. `Row` is any type with
// Text(i), Int(i), OptText(i), OptInt(i) and Blob(i), column indexes from 0
// (sqlite::Statement, postgres::PgRow). Internal to src/store.
#pragma once

#include <algorithm>
#include <string>

#include "store/account_store.h"
#include "store/api_key_store.h"
#include "store/blob_cipher.h"
#include "store/consent_ledger.h"
#include "store/credentials.h"
#include "store/exports.h"
#include "store/job_store.h"
#include "store/secrets.h"
#include "store/types.h"

namespace bgerase::store {

inline constexpr char kAccountColumns[] =
    "id, email, CASE WHEN password_hash IS NULL THEN 0 ELSE 1 END, created_at";
inline constexpr char kApiKeyColumns[] = "prefix, account_id, created_at, last_used_at, revoked_at";
// key_hash, when selected right after kApiKeyColumns.
inline constexpr int kApiKeyHashColumn = 5;
inline constexpr char kConsentEventColumns[] = "id, action, policy_version, actor, at";
inline constexpr char kObjectInfoColumns[] =
    "id, owner, item_id, kind, purpose, on_behalf_of, mime, size, created_at, expires_at, "
    "consent_event_id";
// object_key, when selected right after kObjectInfoColumns.
inline constexpr int kObjectKeyColumn = 11;
inline constexpr char kJobColumns[] =
    "id, owner, status, created_at, expires_at, input_object_id, options, result_object_id, "
    "error, attempts";

// The rows that name an account, in the order DataRights::DeleteAccount deletes them once its
// objects are gone (the account row last): each table with the column holding the account id.
// What remains of an account afterwards is only ledger and deletion-log rows.
struct AccountRows {
  const char* table;
  const char* account_column;
};
inline constexpr AccountRows kAccountRows[] = {{"jobs", "owner"},
                                               {"usage_daily", "account_id"},
                                               {"sessions", "account_id"},
                                               {"api_keys", "account_id"},
                                               {"accounts", "id"}};

template <typename Row>
Account ReadAccount(const Row& r) {
  Account a;
  a.id = r.Text(0);
  a.email = r.Text(1);
  a.has_password = r.Int(2) != 0;
  a.created_at = FromMillis(r.Int(3));
  return a;
}

template <typename Row>
ApiKeyInfo ReadApiKey(const Row& r) {
  ApiKeyInfo k;
  k.prefix = r.Text(0);
  k.account = r.Text(1);
  k.created_at = FromMillis(r.Int(2));
  if (auto v = r.OptInt(3)) k.last_used_at = FromMillis(*v);
  if (auto v = r.OptInt(4)) k.revoked_at = FromMillis(*v);
  return k;
}

// A key's row with its hash, selected as kApiKeyColumns then key_hash.
template <typename Row>
StoredApiKey ReadStoredApiKey(const Row& r) {
  return {ReadApiKey(r), r.Blob(kApiKeyHashColumn)};
}

template <typename Row>
ConsentEvent ReadConsentEvent(const Row& r, const AccountId& account) {
  ConsentEvent e;
  e.id = r.Int(0);
  e.account = account;
  e.granted = r.Text(1) == "grant";
  e.policy_version = r.Text(2);
  e.actor = ParseConsentActor(r.Text(3));
  e.at = FromMillis(r.Int(4));
  return e;
}

template <typename Row>
ObjectInfo ReadObjectInfo(const Row& r) {
  ObjectInfo o;
  o.id = r.Text(0);
  o.owner = r.Text(1);
  o.item_id = r.Text(2);
  o.kind = ParseObjectKind(r.Text(3)).value_or(ObjectKind::kInput);
  o.purpose = ParsePurpose(r.Text(4)).value_or(Purpose::kProcessing);
  o.on_behalf_of = r.OptText(5);
  o.mime = r.Text(6);
  o.size = static_cast<std::uint64_t>(r.Int(7));
  o.created_at = FromMillis(r.Int(8));
  if (auto v = r.OptInt(9)) o.expires_at = FromMillis(*v);
  o.consent_event_id = r.OptInt(10);
  return o;
}

// The key selected after kObjectInfoColumns; all zeros (which opens nothing) if malformed.
template <typename Row>
ObjectKey ReadObjectKey(const Row& r) {
  Bytes raw = r.Blob(kObjectKeyColumn);
  ObjectKey key{};
  if (raw.size() == key.size()) std::copy(raw.begin(), raw.end(), key.begin());
  WipeBytes(raw);
  return key;
}

template <typename Row>
KeyedObject ReadKeyedObject(const Row& r) {
  return {ReadObjectInfo(r), ReadObjectKey(r)};
}

template <typename Row>
Job ReadJob(const Row& r) {
  Job job;
  job.id = r.Text(0);
  job.owner = r.Text(1);
  job.status = ParseJobStatus(r.Text(2)).value_or(JobStatus::kFailed);
  job.created_at = FromMillis(r.Int(3));
  job.expires_at = FromMillis(r.Int(4));
  job.input_object_id = r.Text(5);
  job.options = r.Text(6);
  job.result_object_id = r.OptText(7);
  job.error = r.Text(8);
  job.attempts = static_cast<int>(r.Int(9));
  return job;
}

}  // namespace bgerase::store
