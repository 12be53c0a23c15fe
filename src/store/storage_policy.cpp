// StoragePolicy: consent and the store flag decide; the ObjectStore and TrainingPool enforce.
#include "store/storage_policy.h"

#include "store/errors.h"

namespace bgerase::store {

Result<StoredUpload> StoragePolicy::StoreUpload(const Upload& upload) {
  StoredUpload stored;
  std::optional<ObjectInfo> input = upload.stored_input;
  if (!input && upload.store_requested) {
    auto in = StoreInput(upload.owner, upload.input, upload.input_mime, upload.on_behalf_of);
    if (!in.ok()) return in.status();
    input = *in;
  }
  if (input) {
    stored.processing.push_back(*input);
    if (upload.result) {
      NewObject result{upload.owner,       ObjectKind::kResult, input->item_id,
                       upload.result_mime, upload.on_behalf_of, *upload.result};
      auto out = store_.objects().Put(result);
      if (!out.ok()) {
        // The request fails as a whole (say, the disk is full): an input stored for it alone
        // must not stay behind, listed and held, for a result that never came.
        if (!upload.stored_input) (void)store_.objects().Delete(upload.owner, input->id);
        return out.status();
      }
      stored.processing.push_back(*out);
    }
  }

  auto consent = store_.consent().Current(upload.owner);
  if (!consent.ok()) return consent.status();
  // The grant must predate the upload: consent given while the image waited does not reach back.
  std::optional<Time> received = upload.received_at;
  if (!received && upload.stored_input) received = upload.stored_input->created_at;
  const bool granted_before =
      !received || !consent->changed_at || *consent->changed_at <= *received;
  if (consent->opted_in && consent->event_id && granted_before) {
    NewTrainingItem item;
    item.owner = upload.owner;
    item.consent_event_id = *consent->event_id;
    item.on_behalf_of = upload.on_behalf_of;
    item.input = upload.input;
    item.input_mime = upload.input_mime;
    if (upload.result) {
      item.mask = *upload.result;
      item.mask_mime = upload.result_mime;
    }
    auto added = store_.training().AddItem(item);
    if (added.ok()) {
      stored.training = std::move(added.value());
    } else if (added.status().code() != errors::kConsentNotActive) {
      // consent_not_active here means the owner withdrew between our read and the insert: the
      // withdrawal wins and the upload simply does not enter the pool.
      return added.status();
    }
  }
  return stored;
}

Result<ObjectInfo> StoragePolicy::StoreInput(const AccountId& owner, ByteView input,
                                             std::string mime,
                                             std::optional<std::string> on_behalf_of) {
  return store_.objects().Put(
      {owner, ObjectKind::kInput, "", std::move(mime), std::move(on_behalf_of), input});
}

}  // namespace bgerase::store
