// The account answers both the API (/v2/account/*, key-authenticated) and the web pages
// (/web/account/*, session-authenticated) give: consent, usage, held data and the data export.
// Written once so that the two can never disagree on what a customer is told.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "common/status.h"
#include "store/store.h"

namespace bgerase::api {

// A time as the answers write it: RFC 3339, or null for none.
nlohmann::json TimeOrNull(const std::optional<store::Time>& t);

// {"opt_in", "changed_at" (RFC 3339 or null)}.
nlohmann::json ConsentAnswer(const store::ConsentState& s);

// Grants or withdraws training consent (the policy version in force) as `actor`, and answers
// the new state; a withdrawal adds "training_objects_deleted".
Result<nlohmann::json> SetTrainingConsent(store::Store& store, const store::AccountId& account,
                                          bool opt_in, store::ConsentActor actor);

// {"images_total", "daily": [{"day", "images"}] for the last 30 UTC days}.
Result<nlohmann::json> UsageAnswer(store::Store& store, const store::AccountId& account);

// This UTC month's credits (remove.bg's unit: 1 per image, 0.25 at its 0.25 MP sizes):
// {"unlimited", "allowance" (credits a month, or null), "spent", "remaining" (or null),
// "period_start" ("YYYY-MM-01")}.
Result<nlohmann::json> CreditsAnswer(store::Store& store, const store::AccountId& account);
// What remove.bg's GET /v1.0/account reports as an unlimited account's balance.
inline constexpr double kUnlimitedCredits = 1'000'000;

// Everything held for the account, one entry per object: {"items": [{"id", "item_id", "kind",
// "purpose", "mime", "size", "on_behalf_of", "created_at", "expires_at"}]} (the API's answer).
Result<nlohmann::json> HeldDataAnswer(store::Store& store, const store::AccountId& account);
// The same, by item (an upload and what was made of it share an item), each with its objects:
// {"items": [{"item_id", "purpose", "on_behalf_of", "created_at", "expires_at" (the earliest of its
// objects': the item goes when its first object does), "size", "objects": [{"id", "kind", "mime",
// "size"}]}]} (the account page's answer).
Result<nlohmann::json> HeldItemsAnswer(store::Store& store, const store::AccountId& account);

// The owner's data export (zip bytes) and the header that names its file.
Result<std::string> ExportAnswer(store::Store& store, const store::AccountId& account);
inline constexpr const char* kExportDisposition = "attachment; filename=\"bgerase-export.zip\"";

}  // namespace bgerase::api
