// The account page's JSON endpoints (/web/account/*), by session cookie and CSRF token: the
// account, training consent, API keys, usage, held data and its deletion, the export, and
// deleting the account. The answers shared with the API are in account_answers.h.
#include "api/account_answers.h"
#include "api/server_internal.h"
#include "api/web_session.h"

namespace bgerase::api {
namespace {

// Body of a JSON request, or nullopt when it is not a JSON object.
std::optional<json> JsonObject(const httplib::Request& req) {
  auto body = ParseJsonBody(req.body);
  if (body.ok() && body->is_object()) return std::move(body).value();
  return std::nullopt;
}

}  // namespace

void ApiServer::Impl::AddWebAccountRoute(const std::string& method, const std::string& pattern,
                                         const std::string& label, WebHandler handler) {
  AddRoute(method, pattern, label,
           [this, handler = std::move(handler)](const Request& req, Response& res) {
             web::SetSecurityHeaders(res, true);
             const auto user = SignedIn(req);
             if (!user) return SendError(res, {"not_signed_in", "", {}, 0});
             if (req.method != "GET" && !CsrfOk(req, user, ""))
               return SendError(res, {"csrf_failed", "", {}, 0});
             handler(*user, req, res);
           });
}

void ApiServer::Impl::RegisterWebAccountRoutes() {
  AddWebAccountRoute("GET", "/web/account", "/web/account",
                     [this](const WebUser& user, const Request&, Response& res) {
                       auto account = store.accounts().FindById(user.account);
                       if (!account.ok()) return SendError(res, ApiError::From(account.status()));
                       auto consent = store.consent().Current(user.account);
                       if (!consent.ok()) return SendError(res, ApiError::From(consent.status()));
                       SendJson(res,
                                {{"email", account->email},
                                 {"training_consent", ConsentAnswer(*consent)},
                                 {"retention_seconds", store.retention().retention().count()}});
                     });

  AddWebAccountRoute(
      "PUT", "/web/account/training-consent", "/web/account/training-consent",
      [this](const WebUser& user, const Request& req, Response& res) {
        auto body = JsonObject(req);
        if (!body || !body->contains("opt_in") || !(*body)["opt_in"].is_boolean())
          return SendError(res, {"bad_request", "Send {\"opt_in\": true|false}.", {}, 0});
        auto answer = SetTrainingConsent(store, user.account, (*body)["opt_in"].get<bool>(),
                                         store::ConsentActor::kWeb);
        SendResult(res, answer);
      });

  AddWebAccountRoute("GET", "/web/account/keys", "/web/account/keys",
                     [this](const WebUser& user, const Request&, Response& res) {
                       auto keys = store.api_keys().List(user.account);
                       if (!keys.ok()) return SendError(res, ApiError::From(keys.status()));
                       json list = json::array();
                       for (const auto& k : *keys)
                         list.push_back({{"prefix", k.prefix},
                                         {"created_at", store::FormatTime(k.created_at)},
                                         {"last_used_at", TimeOrNull(k.last_used_at)},
                                         {"revoked_at", TimeOrNull(k.revoked_at)}});
                       SendJson(res, {{"keys", list}});
                     });
  AddWebAccountRoute("POST", "/web/account/keys", "/web/account/keys",
                     [this](const WebUser& user, const Request&, Response& res) {
                       auto key = store.api_keys().Create(user.account);
                       if (!key.ok()) return SendError(res, ApiError::From(key.status()));
                       SendJson(res,
                                {{"key", key->key},
                                 {"prefix", key->info.prefix},
                                 {"created_at", store::FormatTime(key->info.created_at)}},
                                201);
                     });
  AddWebAccountRoute("DELETE", R"(/web/account/keys/([A-Za-z0-9_]+))", "/web/account/keys/{prefix}",
                     [this](const WebUser& user, const Request& req, Response& res) {
                       const Status st =
                           store.api_keys().Revoke(std::string(req.matches[1]), user.account);
                       if (!st.ok()) return SendError(res, ApiError::From(st));
                       SendJson(res, {{"revoked", true}});
                     });

  AddWebAccountRoute("GET", "/web/account/usage", "/web/account/usage",
                     [this](const WebUser& user, const Request&, Response& res) {
                       auto usage = UsageAnswer(store, user.account);
                       auto credits = CreditsAnswer(store, user.account);
                       if (!usage.ok() || !credits.ok())
                         return SendError(res, {"internal_error", "", {}, 0});
                       (*usage)["credits"] = std::move(*credits);
                       SendJson(res, *usage);
                     });

  AddWebAccountRoute("GET", "/web/account/data", "/web/account/data",
                     [this](const WebUser& user, const Request&, Response& res) {
                       auto held = HeldItemsAnswer(store, user.account);
                       SendResult(res, held);
                     });
  AddWebAccountRoute("DELETE", "/web/account/data", "/web/account/data",
                     [this](const WebUser& user, const Request&, Response& res) {
                       auto deleted = store.data_rights().DeleteAllData(user.account);
                       if (!deleted.ok()) return SendError(res, ApiError::From(deleted.status()));
                       SendJson(res, {{"deleted", *deleted}});
                     });
  AddWebAccountRoute("DELETE", R"(/web/account/data/([A-Za-z0-9_\-]+))", "/web/account/data/{item}",
                     [this](const WebUser& user, const Request& req, Response& res) {
                       // Every object of the item in one transaction: never half an item.
                       auto deleted =
                           store.data_rights().DeleteItem(user.account, req.matches[1].str());
                       if (!deleted.ok() && deleted.status().code() == "not_found")
                         return SendError(res, {"not_found", "", {}, 0});
                       if (!deleted.ok()) return SendError(res, ApiError::From(deleted.status()));
                       SendJson(res, {{"deleted", *deleted}});
                     });
  AddWebAccountRoute("GET", "/web/account/export", "/web/account/export",
                     [this](const WebUser& user, const Request&, Response& res) {
                       auto zip = ExportAnswer(store, user.account);
                       if (!zip.ok()) return SendError(res, ApiError::From(zip.status()));
                       res.set_header("Content-Disposition", kExportDisposition);
                       res.set_content(std::move(*zip), "application/zip");
                     });
  AddWebAccountRoute(
      "DELETE", "/web/account", "/web/account",
      [this](const WebUser& user, const Request& req, Response& res) {
        auto account = store.accounts().FindById(user.account);
        if (!account.ok()) return SendError(res, ApiError::From(account.status()));
        auto body = JsonObject(req);
        const std::string typed = body && (*body)["confirm_email"].is_string()
                                      ? (*body)["confirm_email"].get<std::string>()
                                      : "";
        if (Lower(Trim(typed)) != Lower(account->email))
          return SendError(res, {"confirmation_required", "", {}, 0});
        const Status st =
            store.data_rights().DeleteAccount(user.account, store::ConsentActor::kWeb);
        if (!st.ok()) return SendError(res, ApiError::From(st));
        res.set_header("Set-Cookie",
                       web::CookieHeader(web::kSessionCookie, "",
                                         web::OverHttps(req, config.trusted_proxies), 0));
        SendJson(res, {{"deleted", true}});
      });
}

}  // namespace bgerase::api
