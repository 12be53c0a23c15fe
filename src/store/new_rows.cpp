// Fresh rows for accounts, objects, training items, jobs and sessions.
#include "store/new_rows.h"

#include "store/credentials.h"
#include "store/errors.h"
#include "store/secrets.h"

namespace bgerase::store {

Result<NewAccountRow> NewAccount(std::string_view email, std::optional<std::string_view> password,
                                 Time now) {
  BGERASE_RETURN_IF_ERROR(CheckEmail(email));
  auto hash = HashPassword(password);
  if (!hash.ok()) return hash.status();
  NewAccountRow row;
  row.account.id = RandomId("acc_");
  row.account.email = std::string(email);
  row.account.has_password = hash->has_value();
  row.account.created_at = now;
  row.password_hash = std::move(hash.value());
  return row;
}

Result<PendingObject> NewProcessingObject(const NewObject& object) {
  if (object.mime.empty()) return Status(errors::kInvalidArgument, "a MIME type is required");
  PendingObject p;
  ObjectInfo& o = p.info;
  o.id = RandomId("obj_");
  o.owner = object.owner;
  o.item_id = object.item_id.empty() ? RandomId("itm_") : object.item_id;
  o.kind = object.kind;
  o.purpose = Purpose::kProcessing;
  o.on_behalf_of = object.on_behalf_of;
  o.mime = object.mime;
  o.size = object.bytes.size();
  p.key = GenerateObjectKey();
  p.bytes = object.bytes;
  return p;
}

Result<std::vector<PendingObject>> NewTrainingObjects(const NewTrainingItem& item) {
  if (item.input_mime.empty() || (item.mask && item.mask_mime.empty())) {
    return Status(errors::kInvalidArgument, "a MIME type is required");
  }
  const ItemId item_id = RandomId("itm_");
  auto make = [&](ObjectKind kind, const std::string& mime, ByteView bytes) {
    PendingObject p;
    ObjectInfo& o = p.info;
    o.id = RandomId("obj_");
    o.owner = item.owner;
    o.item_id = item_id;
    o.kind = kind;
    o.purpose = Purpose::kTraining;
    o.on_behalf_of = item.on_behalf_of;
    o.mime = mime;
    o.size = bytes.size();
    o.consent_event_id = item.consent_event_id;
    p.key = GenerateObjectKey();
    p.bytes = bytes;
    return p;
  };
  std::vector<PendingObject> out;
  out.push_back(make(ObjectKind::kInput, item.input_mime, item.input));
  if (item.mask) out.push_back(make(ObjectKind::kMask, item.mask_mime, *item.mask));
  return out;
}

TrainingItemInfo TrainingItemOf(const std::vector<PendingObject>& objects) {
  TrainingItemInfo info;
  info.item_id = objects.at(0).info.item_id;
  info.input = objects[0].info;
  if (objects.size() > 1) info.mask = objects[1].info;
  return info;
}

Job NewQueuedJob(const AccountId& owner, const ObjectId& input_object_id, std::string_view options,
                 Time now, const RetentionPolicy& retention) {
  Job job;
  job.id = RandomId("job_");
  job.owner = owner;
  job.created_at = now;
  job.expires_at = retention.ExpiryFor(now);
  job.input_object_id = input_object_id;
  job.options = std::string(options);
  return job;
}

Result<NewSession> NewSessionFor(const AccountId& account, std::chrono::seconds ttl, Time now) {
  if (ttl <= std::chrono::seconds(0)) {
    return Status(errors::kInvalidArgument, "session lifetime must be positive");
  }
  NewSession s;
  s.token = RandomHex32();
  s.account = account;
  s.expires_at = now + ttl;
  return s;
}

}  // namespace bgerase::store
