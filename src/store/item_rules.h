// The rule for adding an object to an existing item, written once for every backend: the
// backend reads the facts about the item inside its transaction and applies this verdict there.
// Internal to src/store.
#pragma once

#include <cstdint>
#include <optional>

#include "common/status.h"
#include "store/types.h"

namespace bgerase::store {

// What a backend knows about an item an object wants to join, read in the joining transaction.
struct ItemFacts {
  // Whether any object of the item, live or not, belongs to another account.
  bool other_owner = false;
  // The joiner's live processing objects in the item (expires_at after now), and the earliest of
  // their expires_at (unset when there are none).
  std::int64_t live_objects = 0;
  std::optional<Time> earliest_expiry;
};

// ObjectStore::Put's rule for an object joining an item: the expiry it gets (its own
// `expires_at` or the item's earliest, whichever comes first, so it never outlives the item).
// "invalid_argument" for another account's item; "not_found" for an item with no live processing
// object left (deleted or expired), which is not brought back — say, by a job finishing after
// "delete all now".
Result<Time> CheckItemJoin(const ItemFacts& item, Time expires_at);

}  // namespace bgerase::store
