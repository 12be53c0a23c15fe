// The PostgreSQL schema as numbered migrations, recorded in schema_migrations. Migration N is
// applied once, in order; released migrations are never edited, only appended to.
#pragma once

#include <span>

namespace bgerase::store::postgres {

std::span<const char* const> Migrations();

}  // namespace bgerase::store::postgres
