// The account routes of the API, by API key: /v2/account (who the key belongs to, consent,
// usage), training consent, held data, its deletion and export, and remove.bg's /v1.0/account.
// The answers' JSON is shared with the web account page (account_answers.h).
#include "api/account_answers.h"
#include "api/server_internal.h"

namespace bgerase::api {

void ApiServer::Impl::RegisterAccountRoutes() {
  AddKeyedRoute("GET", "/v2/account", "/v2/account",
                [this](const store::ApiKeyInfo& key, const Request&, Response& res) {
                  auto account = store.accounts().FindById(key.account);
                  auto consent = store.consent().Current(key.account);
                  if (!account.ok() || !consent.ok())
                    return SendError(res, {"internal_error", "", {}, 0});
                  auto usage = UsageAnswer(store, key.account);
                  auto credits = CreditsAnswer(store, key.account);
                  if (!usage.ok() || !credits.ok())
                    return SendError(res, {"internal_error", "", {}, 0});
                  const bool unlimited = (*credits)["unlimited"].get<bool>();
                  // BackgroundErase's shape (status, account, api_key) with bgerase's own
                  // fields beside it.
                  SendJson(res, {{"status", "ok"},
                                 {"account",
                                  {{"id", account->id},
                                   {"email", account->email},
                                   {"plan", "self-hosted"},
                                   {"subscription_status", "active"},
                                   {"billing_model", unlimited ? "unlimited" : "monthly_allowance"},
                                   {"usage_unit", "credits"}}},
                                 {"api_key", {{"fingerprint", key.prefix}}},
                                 {"key", {{"valid", true}, {"prefix", key.prefix}}},
                                 {"training_consent", ConsentAnswer(*consent)},
                                 {"usage", std::move(*usage)},
                                 {"credits", std::move(*credits)}});
                });

  AddKeyedRoute(
      "GET", "/v1.0/account", "/v1.0/account",
      [this](const store::ApiKeyInfo& key, const Request&, Response& res) {
        auto credits = CreditsAnswer(store, key.account);
        if (!credits.ok()) return SendError(res, ApiError::From(credits.status()));
        // What is left this month is the operator's allowance (remove.bg's "subscription"
        // credits); an account without one stands at kUnlimitedCredits, so a client that checks
        // its balance before sending keeps sending.
        const json& remaining = (*credits)["remaining"];
        const double left = remaining.is_null() ? kUnlimitedCredits : remaining.get<double>();
        SendJson(res,
                 {{"data",
                   {{"attributes",
                     {{"credits",
                       {{"total", left}, {"subscription", left}, {"payg", 0}, {"enterprise", 0}}},
                      {"api", {{"free_calls", 0}, {"sizes", "all"}}}}}}}});
      });

  AddKeyedRoute("GET", "/v2/account/training-consent", "/v2/account/training-consent",
                [this](const store::ApiKeyInfo& key, const Request&, Response& res) {
                  auto state = store.consent().Current(key.account);
                  if (!state.ok()) return SendError(res, ApiError::From(state.status()));
                  SendJson(res, ConsentAnswer(*state));
                });
  AddKeyedRoute(
      "PUT", "/v2/account/training-consent", "/v2/account/training-consent",
      [this](const store::ApiKeyInfo& key, const Request& req, Response& res) {
        auto parsed = ParseJsonBody(req.body);
        if (!parsed.ok())
          return SendError(res, {"bad_request",
                                 parsed.status().message() + " Send {\"opt_in\": true|false}.",
                                 {},
                                 0});
        json body = std::move(parsed).value();
        if (!body.is_object() || !body.contains("opt_in") || !body["opt_in"].is_boolean())
          return SendError(
              res,
              {"validation_error",
               "opt_in must be true or false.",
               {{"bool_parsing", "opt_in", "opt_in must be true or false.",
                 Echo(body.is_object() && body.contains("opt_in") ? body["opt_in"].dump() : "")}},
               0});
        auto answer = SetTrainingConsent(store, key.account, body["opt_in"].get<bool>(),
                                         store::ConsentActor::kApi);
        SendResult(res, answer);
      });

  AddKeyedRoute("GET", "/v2/account/data", "/v2/account/data",
                [this](const store::ApiKeyInfo& key, const Request&, Response& res) {
                  auto held = HeldDataAnswer(store, key.account);
                  SendResult(res, held);
                });
  AddKeyedRoute("DELETE", "/v2/account/data", "/v2/account/data",
                [this](const store::ApiKeyInfo& key, const Request&, Response& res) {
                  auto deleted = store.data_rights().DeleteAllData(key.account);
                  if (!deleted.ok()) return SendError(res, ApiError::From(deleted.status()));
                  SendJson(res, {{"deleted", *deleted}});
                });
  AddKeyedRoute("GET", "/v2/account/export", "/v2/account/export",
                [this](const store::ApiKeyInfo& key, const Request&, Response& res) {
                  auto zip = ExportAnswer(store, key.account);
                  if (!zip.ok()) return SendError(res, ApiError::From(zip.status()));
                  res.set_header("Content-Disposition", kExportDisposition);
                  res.set_content(std::move(*zip), "application/zip");
                });
}

}  // namespace bgerase::api
