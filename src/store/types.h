// Vocabulary shared by every store interface: ids, bytes, purposes and object metadata.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "store/clock.h"

namespace bgerase::store {

// Opaque random identifiers. An AccountId is never derived from the email, so rows that outlive
// an account (consent ledger, deletion log) name nobody once the account row is gone.
using AccountId = std::string;
using ObjectId = std::string;
using ItemId = std::string;
using JobId = std::string;
using ConsentEventId = std::int64_t;

using Bytes = std::vector<std::uint8_t>;
using ByteView = std::span<const std::uint8_t>;

inline ByteView AsBytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

// Why an object is held. `processing` objects always expire (created_at + retention);
// `training` objects exist only while their owner's consent lasts.
enum class Purpose { kProcessing, kTraining };

// What an object is within its item: an upload (`input`), what bgerase made of it (`result`), or
// the alpha mask paired with a training input (`mask`). Objects of one upload share an ItemId.
enum class ObjectKind { kInput, kResult, kMask };

// Why an object was deleted; recorded in the deletion log.
enum class DeletionReason { kExpired, kOwnerRequest, kConsentWithdrawn, kAccountDeleted };

std::string_view ToString(Purpose p);
std::string_view ToString(ObjectKind k);
std::string_view ToString(DeletionReason r);
std::optional<Purpose> ParsePurpose(std::string_view s);
std::optional<ObjectKind> ParseObjectKind(std::string_view s);

// Metadata of one stored object; never its bytes or key.
struct ObjectInfo {
  ObjectId id;
  AccountId owner;
  ItemId item_id;
  ObjectKind kind = ObjectKind::kInput;
  Purpose purpose = Purpose::kProcessing;
  std::optional<std::string> on_behalf_of;  // rights holder named by the uploader
  std::string mime;
  std::uint64_t size = 0;  // plaintext bytes
  Time created_at{};
  std::optional<Time> expires_at;                  // empty only for training objects
  std::optional<ConsentEventId> consent_event_id;  // set only for training objects
};

struct StoredObject {
  ObjectInfo info;
  Bytes bytes;
};

}  // namespace bgerase::store
