#include "api/account_answers.h"

#include <map>
#include <optional>
#include <sstream>

#include "api/server.h"

namespace bgerase::api {

using json = nlohmann::json;

json TimeOrNull(const std::optional<store::Time>& t) {
  return t ? json(store::FormatTime(*t)) : json();
}

json ConsentAnswer(const store::ConsentState& s) {
  return json{{"opt_in", s.opted_in}, {"changed_at", TimeOrNull(s.changed_at)}};
}

Result<json> SetTrainingConsent(store::Store& store, const store::AccountId& account, bool opt_in,
                                store::ConsentActor actor) {
  if (opt_in) {
    auto state = store.consent().Grant(account, kTrainingPolicyVersion, actor);
    if (!state.ok()) return state.status();
    return ConsentAnswer(*state);
  }
  auto w = store.consent().Withdraw(account, kTrainingPolicyVersion, actor);
  if (!w.ok()) return w.status();
  json answer = ConsentAnswer(w->state);
  answer["training_objects_deleted"] = w->training_objects_deleted;
  return answer;
}

Result<json> UsageAnswer(store::Store& store, const store::AccountId& account) {
  auto total = store.usage().Total(account);
  if (!total.ok()) return total.status();
  auto daily = store.usage().Daily(account, 30);
  if (!daily.ok()) return daily.status();
  json days = json::array();
  for (const auto& d : *daily) days.push_back({{"day", d.day}, {"images", d.images}});
  return json{{"images_total", *total}, {"daily", days}};
}

Result<json> CreditsAnswer(store::Store& store, const store::AccountId& account) {
  auto state = store.usage().Credits(account);
  if (!state.ok()) return state.status();
  auto credits = [](std::int64_t quarters) {
    return static_cast<double>(quarters) / store::kQuartersPerCredit;
  };
  json answer = {{"unlimited", !state->allowance},
                 {"allowance", nullptr},
                 {"spent", credits(state->spent)},
                 {"remaining", nullptr},
                 {"period_start", store::UtcMonthStart(store.clock().Now())}};
  if (state->allowance) {
    answer["allowance"] = credits(*state->allowance);
    answer["remaining"] = credits(std::max<std::int64_t>(0, *state->allowance - state->spent));
  }
  return answer;
}

Result<json> HeldDataAnswer(store::Store& store, const store::AccountId& account) {
  auto held = store.data_rights().ListHeldData(account);
  if (!held.ok()) return held.status();
  json items = json::array();
  for (const auto& o : *held)
    items.push_back({{"id", o.id},
                     {"item_id", o.item_id},
                     {"kind", std::string(store::ToString(o.kind))},
                     {"purpose", std::string(store::ToString(o.purpose))},
                     {"mime", o.mime},
                     {"size", o.size},
                     {"on_behalf_of", o.on_behalf_of ? json(*o.on_behalf_of) : json()},
                     {"created_at", store::FormatTime(o.created_at)},
                     {"expires_at", TimeOrNull(o.expires_at)}});
  return json{{"items", items}};
}

Result<json> HeldItemsAnswer(store::Store& store, const store::AccountId& account) {
  auto held = store.data_rights().ListHeldData(account);
  if (!held.ok()) return held.status();
  json items = json::array();
  std::map<std::string, std::size_t> index;  // item id -> position in items
  for (const auto& o : *held) {
    auto [at, fresh] = index.try_emplace(o.item_id, items.size());
    if (fresh)
      items.push_back({{"item_id", o.item_id},
                       {"purpose", std::string(store::ToString(o.purpose))},
                       {"on_behalf_of", o.on_behalf_of ? json(*o.on_behalf_of) : json()},
                       {"created_at", store::FormatTime(o.created_at)},
                       {"expires_at", TimeOrNull(o.expires_at)},
                       {"size", 0},
                       {"objects", json::array()}});
    json& item = items[at->second];
    item["size"] = item["size"].get<std::uint64_t>() + o.size;
    if (o.expires_at && (item["expires_at"].is_null() ||
                         store::FormatTime(*o.expires_at) < item["expires_at"].get<std::string>()))
      item["expires_at"] = store::FormatTime(*o.expires_at);
    item["objects"].push_back({{"id", o.id},
                               {"kind", std::string(store::ToString(o.kind))},
                               {"mime", o.mime},
                               {"size", o.size}});
  }
  return json{{"items", items}};
}

Result<std::string> ExportAnswer(store::Store& store, const store::AccountId& account) {
  std::ostringstream out;
  BGERASE_RETURN_IF_ERROR(store.data_rights().ExportZip(account, out));
  return out.str();
}

}  // namespace bgerase::api
