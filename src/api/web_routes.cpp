// The web pages (docs/reference/web.md): try-it, signup/login/logout and the account page, served from
// web/, with session cookies, CSRF tokens and login rate limits. docs/reference/web.md is the reference.
#include <filesystem>
#include <fstream>
#include <sstream>

#include "api/account_answers.h"
#include "api/server_internal.h"
#include "api/web_session.h"

#ifndef BGERASE_WEB_DIR
#define BGERASE_WEB_DIR "web"
#endif

namespace bgerase::api {

struct ApiServer::Impl::WebState {
  std::filesystem::path dir;
  // Sign-in and sign-up attempts: per address 20 at once then one every 6 s; per account 5 at
  // once then one a minute. Both are checked before the (deliberately slow) password hash.
  web::AttemptThrottle login_by_address{20, 1.0 / 6};
  web::AttemptThrottle login_by_account{5, 1.0 / 60};
  // Signed-out try-it removals per address: 5 at once, then one every 10 s.
  web::AttemptThrottle anonymous_removals{5, 0.1};
};

namespace {

using httplib::Request;
using httplib::Response;

// The signed-in customer of a request, from a live session cookie.
struct WebUser {
  store::AccountId account;
  std::string session_token;
};

std::optional<std::string> ReadFile(const std::filesystem::path& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return std::nullopt;
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

// The form fields of an application/x-www-form-urlencoded body (httplib leaves them in params).
std::string Field(const Request& req, const std::string& name) {
  return req.has_param(name) ? req.get_param_value(name) : "";
}

void Redirect(Response& res, const std::string& to) {
  web::SetSecurityHeaders(res, /*no_store=*/true);
  res.status = 303;
  res.set_header("Location", to);
}

std::string UrlEncode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '/' || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

// Body of a JSON request, or nullopt when it is not a JSON object.
std::optional<json> JsonObject(const Request& req) {
  auto body = ParseJsonBody(req.body);
  if (body.ok() && body->is_object()) return std::move(body).value();
  return std::nullopt;
}

json TimeOrNull(const std::optional<store::Time>& t) {
  return t ? json(store::FormatTime(*t)) : json();
}

}  // namespace

void ApiServer::Impl::RegisterWebRoutes() {
  web = std::make_shared<WebState>();
  web->dir = std::filesystem::path(config.web_dir.empty() ? BGERASE_WEB_DIR : config.web_dir);

  // The live session of the request, if any. An unknown or expired cookie is treated as none.
  auto signed_in = [this](const Request& req) -> std::optional<WebUser> {
    std::string token = web::CookieValue(req, web::kSessionCookie);
    if (token.empty()) return std::nullopt;
    auto session = store.sessions().Validate(token);
    if (!session.ok()) return std::nullopt;
    return WebUser{session->account, std::move(token)};
  };

  // The CSRF token the page should carry: the session's, or (signed out) the double-submit
  // cookie's, which is set here when the browser has none yet.
  auto csrf_for_page = [](const Request& req, Response& res, const std::optional<WebUser>& user) {
    if (user) return web::CsrfTokenForSession(user->session_token);
    std::string token = web::CookieValue(req, web::kCsrfCookie);
    if (token.size() != 64) {
      token = web::RandomToken();
      res.set_header("Set-Cookie",
                     web::CookieHeader(web::kCsrfCookie, token, web::OverHttps(req), -1));
    }
    return token;
  };

  // Whether a state-changing request carries the right CSRF token (X-CSRF-Token header or the
  // `form_token` field): bound to the session when signed in, else equal to the CSRF cookie.
  auto csrf_ok = [](const Request& req, const std::optional<WebUser>& user,
                    const std::string& form_token) {
    const std::string header = req.get_header_value("X-CSRF-Token");
    const std::string& presented = header.empty() ? form_token : header;
    if (user) return web::TokensMatch(presented, web::CsrfTokenForSession(user->session_token));
    return web::TokensMatch(presented, web::CookieValue(req, web::kCsrfCookie));
  };

  // Renders web/<name> with the navigation for the visitor and `values`; HTML-escaped except
  // where the name ends in "_html".
  auto render = [this](Response& res, const std::string& name, const std::optional<WebUser>& user,
                       const std::string& csrf,
                       std::vector<std::pair<std::string, std::string>> values, int status = 200) {
    web::SetSecurityHeaders(res, /*no_store=*/true);
    auto page = ReadFile(web->dir / name);
    auto head = ReadFile(web->dir / "partials/head.html");
    auto nav = ReadFile(web->dir /
                        (user ? "partials/nav-signed-in.html" : "partials/nav-signed-out.html"));
    if (!page || !head || !nav) return SendError(res, {"internal_error", "", {}, 0});
    for (auto& [k, v] : values)
      if (!k.ends_with("_html")) v = web::HtmlEscape(v);
    // The partials go in first: they carry {{csrf_token}} themselves (meta tag, sign-out form).
    const std::string html = web::FillTemplate(*page, {{"head_html", *head}, {"nav_html", *nav}});
    values.emplace_back("csrf_token", csrf);
    values.emplace_back("signed_in", user ? "true" : "false");
    res.status = status;
    res.set_content(web::FillTemplate(html, values), "text/html; charset=utf-8");
  };

  // The configured retention in whole hours (at least 1), as the pages state it.
  auto retention_hours = [this] {
    return std::to_string(std::max<long long>(1, store.retention().retention().count() / 3600));
  };

  auto notice_html = [](std::string_view text, bool error) {
    if (text.empty()) return std::string();
    return std::string(error ? "<p class=\"notice error\" role=\"alert\" id=\"form-error\">"
                             : "<p class=\"notice\" role=\"status\">") +
           web::HtmlEscape(text) + "</p>";
  };

  // --- pages ---

  http.Get("/", [=, this](const Request& req, Response& res) {
    t_ctx.route = "/web/page";
    const auto user = signed_in(req);
    render(res, "index.html", user, csrf_for_page(req, res, user),
           {{"retention_hours", retention_hours()}});
  });

  auto auth_page = [=](const Request& req, Response& res, const std::string& page,
                       const std::string& error, const std::string& email, int status) {
    const auto user = signed_in(req);
    std::string notice;
    if (req.has_param("signed_out")) notice = "You are signed out.";
    if (req.has_param("deleted")) notice = "Your account and everything held for it are deleted.";
    render(res, page, user, csrf_for_page(req, res, user),
           {{"error_html", notice_html(error, true) + notice_html(notice, false)},
            {"email", email},
            {"next", web::SafeNext(req.has_param("next") ? req.get_param_value("next") : "")},
            {"retention_hours", retention_hours()}},
           status);
  };
  for (const std::string page : {"signup", "login"}) {
    http.Get("/" + page, [=](const Request& req, Response& res) {
      t_ctx.route = "/web/page";
      if (signed_in(req)) return Redirect(res, "/account");
      auth_page(req, res, page + ".html", "", "", 200);
    });
  }

  // Signs the account in: a new session in the cookie, then on to `next`.
  auto start_session = [this](const Request& req, Response& res, const store::AccountId& account,
                              const std::string& next) {
    auto session = store.sessions().Create(account, web::kSessionTtl);
    if (!session.ok()) return SendError(res, ApiError::From(session.status()));
    res.set_header("Set-Cookie", web::CookieHeader(web::kSessionCookie, session->token,
                                                   web::OverHttps(req), web::kSessionTtl.count()));
    Redirect(res, web::SafeNext(next));
  };

  // Sign-up and sign-in answer a failed form with the same page, its message and the status.
  auto form_error = [=](const Request& req, Response& res, const std::string& page,
                        const ApiError& e) {
    const std::string message =
        e.message.empty() ? std::string(LookupError(e.code).message) : e.message;
    auth_page(req, res, page, message, Field(req, "email"), HttpStatus(e));
    if (e.retry_after_s > 0) res.set_header("Retry-After", std::to_string(e.retry_after_s));
  };
  auto throttled = [](int wait) {
    return ApiError{"login_rate_limited",
                    "Too many sign-in attempts; retry in " + std::to_string(wait) + " s.",
                    {},
                    wait};
  };

  http.Post("/signup", [=, this](const Request& req, Response& res) {
    t_ctx.route = "/web/signup";
    web::SetSecurityHeaders(res, true);
    if (!csrf_ok(req, std::nullopt, Field(req, "csrf_token")))
      return form_error(req, res, "signup.html", {"csrf_failed", "", {}, 0});
    if (const int wait = web->login_by_address.Take(config.trusted_proxies.ClientOf(req)); wait > 0)
      return form_error(req, res, "signup.html", throttled(wait));
    auto account = store.accounts().Create(Trim(Field(req, "email")), Field(req, "password"));
    if (!account.ok()) {
      const std::string& code = account.status().code();
      const bool known =
          code == "invalid_email" || code == "weak_password" || code == "account_exists";
      return form_error(req, res, "signup.html", {known ? code : "internal_error", "", {}, 0});
    }
    start_session(req, res, account->id, "/account");
  });

  http.Post("/login", [=, this](const Request& req, Response& res) {
    t_ctx.route = "/web/login";
    web::SetSecurityHeaders(res, true);
    if (!csrf_ok(req, std::nullopt, Field(req, "csrf_token")))
      return form_error(req, res, "login.html", {"csrf_failed", "", {}, 0});
    const std::string email(Trim(Field(req, "email")));
    // Throttled by address and by the account named, whether or not it exists, so the answer
    // says nothing about which emails have accounts.
    int wait = web->login_by_address.Take(config.trusted_proxies.ClientOf(req));
    if (wait == 0) wait = web->login_by_account.Take(Lower(email));
    if (wait > 0) return form_error(req, res, "login.html", throttled(wait));
    auto account = store.accounts().VerifyPassword(email, Field(req, "password"));
    if (!account.ok())
      return form_error(req, res, "login.html", {"invalid_credentials", "", {}, 0});
    start_session(req, res, account->id, Field(req, "next"));
  });

  http.Get("/logout", [=](const Request& req, Response& res) {
    t_ctx.route = "/web/page";
    const auto user = signed_in(req);
    if (!user) return Redirect(res, "/login");
    render(res, "logout.html", user, csrf_for_page(req, res, user), {});
  });
  http.Post("/logout", [=, this](const Request& req, Response& res) {
    t_ctx.route = "/web/logout";
    web::SetSecurityHeaders(res, true);
    const auto user = signed_in(req);
    if (!user) return Redirect(res, "/login");
    if (!csrf_ok(req, user, Field(req, "csrf_token")))
      return SendError(res, {"csrf_failed", "", {}, 0});
    (void)store.sessions().End(user->session_token);
    res.set_header("Set-Cookie",
                   web::CookieHeader(web::kSessionCookie, "", web::OverHttps(req), 0));
    Redirect(res, "/login?signed_out=1");
  });

  http.Get("/account", [=, this](const Request& req, Response& res) {
    t_ctx.route = "/web/page";
    const auto user = signed_in(req);
    if (!user) {
      web::SetSecurityHeaders(res, true);
      return Redirect(res, "/login?next=" + UrlEncode("/account"));
    }
    auto account = store.accounts().FindById(user->account);
    if (!account.ok()) return SendError(res, ApiError::From(account.status()));
    auto consent = store.consent().Current(user->account);
    if (!consent.ok()) return SendError(res, ApiError::From(consent.status()));
    // The opt-in's state is in the HTML itself, so it never shows wrong while scripts load.
    render(
        res, "account.html", user, csrf_for_page(req, res, user),
        {{"email", account->email},
         {"opt_in_checked_html", consent->opted_in ? "checked" : ""},
         {"opt_in_state", consent->opted_in ? "opted in" : "opted out"},
         {"consent_changed_at", consent->changed_at ? store::FormatTime(*consent->changed_at) : ""},
         {"retention_hours", retention_hours()}});
  });

  http.Get(R"(/assets/([A-Za-z0-9_\-]+)\.(css|js|svg))", [this](const Request& req, Response& res) {
    t_ctx.route = "/web/assets";
    web::SetSecurityHeaders(res, false);
    const std::string ext = req.matches[2];
    auto body = ReadFile(web->dir / "assets" / (std::string(req.matches[1]) + "." + ext));
    if (!body) return SendError(res, {"not_found", "", {}, 0});
    const char* type = ext == "css"  ? "text/css; charset=utf-8"
                       : ext == "js" ? "text/javascript; charset=utf-8"
                                     : "image/svg+xml";
    res.set_header("Cache-Control", "no-cache");
    res.set_content(std::move(*body), type);
  });

  // --- session-authenticated JSON endpoints of the account page ---

  // Runs `handler` for a signed-in customer; state-changing methods need the CSRF header too.
  auto account_api = [=](const char* label, auto handler) {
    return [=](const Request& req, Response& res) {
      t_ctx.route = label;
      web::SetSecurityHeaders(res, true);
      const auto user = signed_in(req);
      if (!user) return SendError(res, {"not_signed_in", "", {}, 0});
      if (req.method != "GET" && !csrf_ok(req, user, ""))
        return SendError(res, {"csrf_failed", "", {}, 0});
      handler(req, res, *user);
    };
  };

  http.Get("/web/account", account_api("/web/account", [=, this](const Request&, Response& res,
                                                                 const WebUser& user) {
             auto account = store.accounts().FindById(user.account);
             if (!account.ok()) return SendError(res, ApiError::From(account.status()));
             auto consent = store.consent().Current(user.account);
             if (!consent.ok()) return SendError(res, ApiError::From(consent.status()));
             SendJson(res, {{"email", account->email},
                            {"training_consent", ConsentAnswer(*consent)},
                            {"retention_seconds", store.retention().retention().count()}});
           }));

  http.Put("/web/account/training-consent",
           account_api("/web/account/training-consent", [=, this](const Request& req, Response& res,
                                                                  const WebUser& user) {
             auto body = JsonObject(req);
             if (!body || !body->contains("opt_in") || !(*body)["opt_in"].is_boolean())
               return SendError(res, {"bad_request", "Send {\"opt_in\": true|false}.", {}, 0});
             auto answer = SetTrainingConsent(store, user.account, (*body)["opt_in"].get<bool>(),
                                              store::ConsentActor::kWeb);
             if (!answer.ok()) return SendError(res, ApiError::From(answer.status()));
             SendJson(res, *answer);
           }));

  http.Get("/web/account/keys",
           account_api("/web/account/keys",
                       [=, this](const Request&, Response& res, const WebUser& user) {
                         auto keys = store.api_keys().List(user.account);
                         if (!keys.ok()) return SendError(res, ApiError::From(keys.status()));
                         json list = json::array();
                         for (const auto& k : *keys)
                           list.push_back({{"prefix", k.prefix},
                                           {"created_at", store::FormatTime(k.created_at)},
                                           {"last_used_at", TimeOrNull(k.last_used_at)},
                                           {"revoked_at", TimeOrNull(k.revoked_at)}});
                         SendJson(res, {{"keys", list}});
                       }));
  http.Post("/web/account/keys",
            account_api("/web/account/keys",
                        [=, this](const Request&, Response& res, const WebUser& user) {
                          auto key = store.api_keys().Create(user.account);
                          if (!key.ok()) return SendError(res, ApiError::From(key.status()));
                          SendJson(res,
                                   {{"key", key->key},
                                    {"prefix", key->info.prefix},
                                    {"created_at", store::FormatTime(key->info.created_at)}},
                                   201);
                        }));
  http.Delete(R"(/web/account/keys/([A-Za-z0-9_]+))",
              account_api("/web/account/keys/{prefix}",
                          [=, this](const Request& req, Response& res, const WebUser& user) {
                            const Status st =
                                store.api_keys().Revoke(std::string(req.matches[1]), user.account);
                            if (!st.ok()) return SendError(res, ApiError::From(st));
                            SendJson(res, {{"revoked", true}});
                          }));

  http.Get("/web/account/usage",
           account_api("/web/account/usage",
                       [=, this](const Request&, Response& res, const WebUser& user) {
                         auto usage = UsageAnswer(store, user.account);
                         if (!usage.ok()) return SendError(res, {"internal_error", "", {}, 0});
                         SendJson(res, *usage);
                       }));

  // Held data by item (an upload and what was made of it share an item), each with its objects.
  http.Get(
      "/web/account/data", account_api("/web/account/data", [=, this](const Request&, Response& res,
                                                                      const WebUser& user) {
        auto held = store.data_rights().ListHeldData(user.account);
        if (!held.ok()) return SendError(res, ApiError::From(held.status()));
        json items = json::array();
        std::map<std::string, std::size_t> index;  // item id -> position in items
        for (const auto& o : *held) {
          auto [at, fresh] = index.try_emplace(o.item_id, items.size());
          if (fresh)
            items.push_back(
                {{"item_id", o.item_id},
                 {"purpose", std::string(store::ToString(o.purpose))},
                 {"on_behalf_of", o.on_behalf_of ? json(*o.on_behalf_of) : json()},
                 {"created_at", store::FormatTime(o.created_at)},
                 {"expires_at", o.expires_at ? json(store::FormatTime(*o.expires_at)) : json()},
                 {"size", 0},
                 {"objects", json::array()}});
          json& item = items[at->second];
          item["size"] = item["size"].get<std::uint64_t>() + o.size;
          // The item goes when its first object does.
          if (o.expires_at &&
              (item["expires_at"].is_null() ||
               store::FormatTime(*o.expires_at) < item["expires_at"].get<std::string>()))
            item["expires_at"] = store::FormatTime(*o.expires_at);
          item["objects"].push_back({{"id", o.id},
                                     {"kind", std::string(store::ToString(o.kind))},
                                     {"mime", o.mime},
                                     {"size", o.size}});
        }
        SendJson(res, {{"items", items}});
      }));
  http.Delete("/web/account/data",
              account_api("/web/account/data",
                          [=, this](const Request&, Response& res, const WebUser& user) {
                            auto deleted = store.data_rights().DeleteAllData(user.account);
                            if (!deleted.ok())
                              return SendError(res, ApiError::From(deleted.status()));
                            SendJson(res, {{"deleted", *deleted}});
                          }));
  http.Delete(R"(/web/account/data/([A-Za-z0-9_\-]+))",
              account_api("/web/account/data/{item}",
                          [=, this](const Request& req, Response& res, const WebUser& user) {
                            auto held = store.data_rights().ListHeldData(user.account);
                            if (!held.ok()) return SendError(res, ApiError::From(held.status()));
                            std::size_t deleted = 0;
                            for (const auto& o : *held) {
                              if (o.item_id != req.matches[1]) continue;
                              const Status st = store.objects().Delete(user.account, o.id);
                              if (!st.ok() && st.code() != "not_found")
                                return SendError(res, ApiError::From(st));
                              ++deleted;
                            }
                            if (deleted == 0) return SendError(res, {"not_found", "", {}, 0});
                            SendJson(res, {{"deleted", deleted}});
                          }));
  http.Get("/web/account/export",
           account_api("/web/account/export",
                       [=, this](const Request&, Response& res, const WebUser& user) {
                         auto zip = ExportAnswer(store, user.account);
                         if (!zip.ok()) return SendError(res, ApiError::From(zip.status()));
                         res.set_header("Content-Disposition", kExportDisposition);
                         res.set_content(std::move(*zip), "application/zip");
                       }));
  http.Delete("/web/account",
              account_api("/web/account", [=, this](const Request& req, Response& res,
                                                    const WebUser& user) {
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
                               web::CookieHeader(web::kSessionCookie, "", web::OverHttps(req), 0));
                SendJson(res, {{"deleted", true}});
              }));

  // --- try it: the same fields as POST /v2, with a session or signed out, never an API key ---

  http.Post("/web/remove", [=, this](const Request& req, Response& res,
                                     const httplib::ContentReader& reader) {
    RawBody raw = ReadBody(req, reader);  // first, so a refusal leaves the connection clean
    t_ctx.route = "/web/remove";
    web::SetSecurityHeaders(res, true);
    if (!raw.complete) return SendError(res, BodyError(raw, res.status));
    const auto user = signed_in(req);
    auto gathered = GatherFields(req, raw, V2ImageKeys());
    if (!gathered.ok()) return SendError(res, ApiError::From(gathered.status()));
    std::string form_token;
    std::erase_if(gathered->fields, [&](const auto& f) {
      if (removal::NormalizeOptionKey(f.first) != "csrf_token") return false;
      form_token = f.second;
      return true;
    });
    if (!csrf_ok(req, user, form_token)) return SendError(res, {"csrf_failed", "", {}, 0});
    ApiError error;
    auto options = ParseOptions(gathered->fields, &error);
    if (!options.ok()) return SendError(res, error);
    if (!user) {
      if (options->store)
        return SendError(res, {"not_signed_in", "Sign in to keep images for later.", {}, 0});
      if (const int wait = web->anonymous_removals.Take(config.trusted_proxies.ClientOf(req));
          wait > 0)
        return SendError(res, {"rate_limited",
                               "Too many tries from this address; sign in or retry in " +
                                   std::to_string(wait) + " s.",
                               {},
                               wait});
    } else if (const int wait = limiter.Take("account:" + user->account); wait > 0) {
      // Signed in, the page draws on the same per-caller budget as the API (--rate-limit), so
      // signing up cannot be a way around it.
      return SendError(res, {"rate_limited",
                             "Too many requests; retry in " + std::to_string(wait) + " s.",
                             {},
                             wait});
    }
    if (gathered->image_url)
      return SendError(res, {"bad_request", "Upload the image as image_file.", {}, 0});
    auto image = ResolveImage(*gathered, fetch);
    if (!image.ok()) return SendError(res, ApiError::From(image.status()));
    auto removed = RemoveAndKeep(user ? user->account : store::AccountId(), std::move(*image),
                                 *options, &error);
    if (!removed.ok()) return SendError(res, error);
    const auto& r = removed->result;
    res.set_header("X-Image-Width", std::to_string(r.width));
    res.set_header("X-Image-Height", std::to_string(r.height));
    res.set_header("X-Processing-Time-Ms",
                   std::to_string(static_cast<long long>(Seconds(t_ctx.start) * 1000)));
    if (!removed->stored.processing.empty())
      res.set_header("X-Stored-Item-Id", removed->stored.processing.front().item_id);
    res.set_content(r.bytes, r.mime);
  });
}

}  // namespace bgerase::api
