// The item-join rule.
#include "store/item_rules.h"

#include <algorithm>

#include "store/errors.h"

namespace bgerase::store {

Result<Time> CheckItemJoin(const ItemFacts& item, Time expires_at) {
  if (item.other_owner) {
    return Status(errors::kInvalidArgument, "item belongs to another account");
  }
  if (item.live_objects == 0 || !item.earliest_expiry) {
    return Status(errors::kNotFound, "the item no longer exists");
  }
  return std::min(expires_at, *item.earliest_expiry);
}

}  // namespace bgerase::store
