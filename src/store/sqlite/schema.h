// The SQLite schema as numbered migrations. Migration N brings user_version from N-1 to N;
// released migrations are never edited, only appended to.
#pragma once

#include <span>

namespace bgerase::store::sqlite {

std::span<const char* const> Migrations();

}  // namespace bgerase::store::sqlite
