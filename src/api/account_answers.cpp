#include "api/account_answers.h"

#include <sstream>

#include "api/server.h"

namespace bgerase::api {

using json = nlohmann::json;

json ConsentAnswer(const store::ConsentState& s) {
  return json{{"opt_in", s.opted_in},
              {"changed_at", s.changed_at ? json(store::FormatTime(*s.changed_at)) : json()}};
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

Result<std::string> ExportAnswer(store::Store& store, const store::AccountId& account) {
  std::ostringstream out;
  BGERASE_RETURN_IF_ERROR(store.data_rights().ExportZip(account, out));
  return out.str();
}

}  // namespace bgerase::api
