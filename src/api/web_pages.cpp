// The web pages (docs/reference/web.md): try-it, sign-up, sign-in, sign-out and the account page,
// rendered from web/ with session cookies, CSRF tokens and sign-in throttles. The account page's
// JSON endpoints are in web_account_routes.cpp.
#include <filesystem>
#include <fstream>
#include <sstream>

#include "api/server_internal.h"
#include "api/web_session.h"
#include "common/install_layout.h"

#ifndef BGERASE_WEB_DIR
#define BGERASE_WEB_DIR "web"
#endif

namespace bgerase::api {
namespace {

std::optional<std::string> ReadFile(const std::filesystem::path& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return std::nullopt;
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

// The form fields of an application/x-www-form-urlencoded body (httplib leaves them in params).
std::string Field(const httplib::Request& req, const std::string& name) {
  return req.has_param(name) ? req.get_param_value(name) : "";
}

void Redirect(httplib::Response& res, const std::string& to) {
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

std::string NoticeHtml(std::string_view text, bool error) {
  if (text.empty()) return std::string();
  return std::string(error ? "<p class=\"notice error\" role=\"alert\" id=\"form-error\">"
                           : "<p class=\"notice\" role=\"status\">") +
         web::HtmlEscape(text) + "</p>";
}

ApiError Throttled(int wait) {
  return ApiError{"login_rate_limited",
                  "Too many sign-in attempts; retry in " + std::to_string(wait) + " s.",
                  {},
                  wait};
}

}  // namespace

struct ApiServer::Impl::Web {
  explicit Web(Impl& server) : s(server) {}

  Impl& s;
  std::filesystem::path dir;
  // Sign-in and sign-up attempts: per address 20 at once then one every 6 s; per account 5 at
  // once then one a minute. Both are checked before the (deliberately slow) password hash.
  web::AttemptThrottle login_by_address{20, 1.0 / 6};
  web::AttemptThrottle login_by_account{5, 1.0 / 60};
  // Signed-out try-it removals per address: 5 at once, then one every 10 s.
  web::AttemptThrottle anonymous_removals{5, 0.1};

  // The CSRF token the page should carry: the session's, or (signed out) the double-submit
  // cookie's, which is set here when the browser has none the server signed.
  std::string CsrfForPage(const Request& req, Response& res,
                          const std::optional<WebUser>& user) const {
    if (user) return web::CsrfTokenForSession(user->session_token);
    std::string token = web::CookieValue(req, web::kCsrfCookie);
    if (const std::string key = s.FormKey(); !web::SignedOutCsrfTokenValid(key, token)) {
      token = web::SignedOutCsrfToken(key);
      res.set_header("Set-Cookie",
                     web::CookieHeader(web::kCsrfCookie, token,
                                       web::OverHttps(req, s.config.trusted_proxies), -1));
    }
    return token;
  }

  // Renders web/<name> with the navigation for the visitor and `values`; HTML-escaped except
  // where the name ends in "_html". Every page also gets the CSRF token, whether the visitor is
  // signed in, the retention in hours and the upload limit.
  void Render(const Request& req, Response& res, const std::string& name,
              const std::optional<WebUser>& user,
              std::vector<std::pair<std::string, std::string>> values, int status = 200) const {
    web::SetSecurityHeaders(res, /*no_store=*/true);
    const std::string csrf = CsrfForPage(req, res, user);
    auto page = ReadFile(dir / name);
    auto head = ReadFile(dir / "partials/head.html");
    auto nav = ReadFile(dir / "partials/nav.html");
    auto links = ReadFile(
        dir / (user ? "partials/nav-links-signed-in.html" : "partials/nav-links-signed-out.html"));
    if (!page || !head || !nav || !links) return SendError(res, {"internal_error", "", {}, 0});
    for (auto& [k, v] : values)
      if (!k.ends_with("_html")) v = web::HtmlEscape(v);
    // The partials go in first: they carry {{csrf_token}} themselves (meta tag, sign-out form).
    const std::string html = web::FillTemplate(
        *page, {{"head_html", *head},
                {"nav_html", web::FillTemplate(*nav, {{"nav_links_html", *links}})}});
    values.emplace_back("csrf_token", csrf);
    values.emplace_back("signed_in", user ? "true" : "false");
    values.emplace_back("retention_hours", RetentionHours());
    values.emplace_back("max_image_bytes", std::to_string(kMaxImageBytes));
    values.emplace_back("max_image_mb", std::to_string(kMaxImageBytes / 1'000'000));
    res.status = status;
    res.set_content(web::FillTemplate(html, values), "text/html; charset=utf-8");
  }

  // The configured retention in whole hours (at least 1), as the pages state it.
  std::string RetentionHours() const {
    return std::to_string(std::max<long long>(1, s.store.retention().retention().count() / 3600));
  }

  // The sign-up or sign-in page, with an error (failed form) or a notice (?signed_out, ?deleted).
  void AuthPage(const Request& req, Response& res, const std::string& page,
                const std::string& error, const std::string& email, int status) const {
    std::string notice;
    if (req.has_param("signed_out")) notice = "You are signed out.";
    if (req.has_param("deleted")) notice = "Your account and everything held for it are deleted.";
    Render(req, res, page, s.SignedIn(req),
           {{"error_html", NoticeHtml(error, true) + NoticeHtml(notice, false)},
            {"email", email},
            {"next", web::SafeNext(req.has_param("next") ? req.get_param_value("next") : "")}},
           status);
  }

  // Sign-up and sign-in answer a failed form with the same page, its message and the status.
  void FormError(const Request& req, Response& res, const std::string& page,
                 const ApiError& e) const {
    const std::string message =
        e.message.empty() ? std::string(LookupError(e.code).message) : e.message;
    AuthPage(req, res, page, message, Field(req, "email"), HttpStatus(e));
    if (const int s = RetryAfterSeconds(e); s > 0) res.set_header("Retry-After", std::to_string(s));
  }

  // Signs the account in: a new session in the cookie, then on to `next`.
  void StartSession(const Request& req, Response& res, const store::AccountId& account,
                    const std::string& next) const {
    auto session = s.store.sessions().Create(account, web::kSessionTtl);
    if (!session.ok()) return SendError(res, ApiError::From(session.status()));
    res.set_header("Set-Cookie", web::CookieHeader(web::kSessionCookie, session->token,
                                                   web::OverHttps(req, s.config.trusted_proxies),
                                                   web::kSessionTtl.count()));
    Redirect(res, web::SafeNext(next));
  }

  void Signup(const Request& req, Response& res) {
    web::SetSecurityHeaders(res, true);
    if (!s.CsrfOk(req, std::nullopt, Field(req, "csrf_token")))
      return FormError(req, res, "signup.html", {"csrf_failed", "", {}, 0});
    if (const int wait = login_by_address.Take(s.config.trusted_proxies.ClientOf(req)); wait > 0)
      return FormError(req, res, "signup.html", Throttled(wait));
    auto account = s.store.accounts().Create(Trim(Field(req, "email")), Field(req, "password"));
    if (!account.ok()) {
      const std::string& code = account.status().code();
      const bool known =
          code == "invalid_email" || code == "weak_password" || code == "account_exists";
      return FormError(req, res, "signup.html", {known ? code : "internal_error", "", {}, 0});
    }
    StartSession(req, res, account->id, "/account");
  }

  void Login(const Request& req, Response& res) {
    web::SetSecurityHeaders(res, true);
    if (!s.CsrfOk(req, std::nullopt, Field(req, "csrf_token")))
      return FormError(req, res, "login.html", {"csrf_failed", "", {}, 0});
    const std::string email(Trim(Field(req, "email")));
    // Throttled by address and by the account named, whether or not it exists, so the answer
    // says nothing about which emails have accounts.
    int wait = login_by_address.Take(s.config.trusted_proxies.ClientOf(req));
    if (wait == 0) wait = login_by_account.Take(Lower(email));
    if (wait > 0) return FormError(req, res, "login.html", Throttled(wait));
    auto account = s.store.accounts().VerifyPassword(email, Field(req, "password"));
    if (!account.ok()) return FormError(req, res, "login.html", {"invalid_credentials", "", {}, 0});
    StartSession(req, res, account->id, Field(req, "next"));
  }

  void Logout(const Request& req, Response& res) const {
    web::SetSecurityHeaders(res, true);
    const auto user = s.SignedIn(req);
    if (!user) return Redirect(res, "/login");
    if (!s.CsrfOk(req, user, Field(req, "csrf_token")))
      return SendError(res, {"csrf_failed", "", {}, 0});
    (void)s.store.sessions().End(user->session_token);
    res.set_header("Set-Cookie",
                   web::CookieHeader(web::kSessionCookie, "",
                                     web::OverHttps(req, s.config.trusted_proxies), 0));
    Redirect(res, "/login?signed_out=1");
  }

  void AccountPage(const Request& req, Response& res) const {
    const auto user = s.SignedIn(req);
    if (!user) return Redirect(res, "/login?next=" + UrlEncode("/account"));
    auto account = s.store.accounts().FindById(user->account);
    if (!account.ok()) return SendError(res, ApiError::From(account.status()));
    auto consent = s.store.consent().Current(user->account);
    if (!consent.ok()) return SendError(res, ApiError::From(consent.status()));
    // The opt-in's state is in the HTML itself, so it never shows wrong while scripts load.
    Render(req, res, "account.html", user,
           {{"email", account->email},
            {"opt_in_checked_html", consent->opted_in ? "checked" : ""},
            {"opt_in_state", consent->opted_in ? "opted in" : "opted out"},
            {"consent_changed_at",
             consent->changed_at ? store::FormatTime(*consent->changed_at) : ""}});
  }

  void Asset(const Request& req, Response& res) const {
    web::SetSecurityHeaders(res, false);
    const std::string ext = req.matches[2];
    auto body = ReadFile(dir / "assets" / (std::string(req.matches[1]) + "." + ext));
    if (!body) return SendError(res, {"not_found", "", {}, 0});
    const char* type = ext == "css"  ? "text/css; charset=utf-8"
                       : ext == "js" ? "text/javascript; charset=utf-8"
                                     : "image/svg+xml";
    res.set_header("Cache-Control", "no-cache");
    res.set_content(std::move(*body), type);
  }

  // Whether this try-it request may run now, asked before its body is parsed: signed out, it
  // draws on a per-address budget; signed in, on the same per-caller budget as the API
  // (--rate-limit), so signing up cannot be a way around it.
  std::optional<ApiError> Throttle(const Request& req, const std::optional<WebUser>& user) {
    if (user) {
      if (const int wait = s.limiter.Take("account:" + user->account); wait > 0)
        return ApiError{"rate_limited",
                        "Too many requests; retry in " + std::to_string(wait) + " s.",
                        {},
                        wait};
      return std::nullopt;
    }
    if (const int wait = anonymous_removals.Take(s.config.trusted_proxies.ClientOf(req)); wait > 0)
      return ApiError{
          "rate_limited",
          "Too many tries from this address; sign in or retry in " + std::to_string(wait) + " s.",
          {},
          wait};
    return std::nullopt;
  }

  // Try it: the same fields as POST /v2, with a session or signed out, never an API key.
  void TryIt(const Request& req, Response& res, const Reader& reader) {
    RawBody raw = ReadBody(req, reader);  // first, so a refusal leaves the connection clean
    t_ctx.bytes_in = raw.received;
    web::SetSecurityHeaders(res, true);
    if (!raw.complete) return SendError(res, BodyError(raw, res.status));
    const auto user = s.SignedIn(req);
    if (auto refusal = Throttle(req, user)) return SendError(res, *refusal);
    auto gathered = GatherFields(req, raw, V2ImageKeys());
    if (!gathered.ok()) return SendError(res, ApiError::From(gathered.status()));
    std::string form_token;
    std::erase_if(gathered->fields, [&](const auto& f) {
      if (removal::NormalizeOptionKey(f.first) != "csrf_token") return false;
      form_token = f.second;
      return true;
    });
    if (!s.CsrfOk(req, user, form_token)) return SendError(res, {"csrf_failed", "", {}, 0});
    auto background = TakeBackgroundFields(gathered->fields);
    if (!background.ok()) return SendError(res, ApiError::From(background.status()));
    ApiError error;
    auto options = ParseOptions(gathered->fields, &error);
    if (!options.ok()) return SendError(res, error);
    if (!user && options->store)
      return SendError(res, {"not_signed_in", "Sign in to keep images for later.", {}, 0});
    if (gathered->image_url || background->url)
      return SendError(res, {"bad_request", "Upload the images as files.", {}, 0});
    if (Status st = ResolveBackground(std::move(*background), s.fetch, &*options); !st.ok())
      return SendError(res, ApiError::From(st));
    auto image = ResolveImage(*gathered, s.fetch);
    if (!image.ok()) return SendError(res, ApiError::From(image.status()));
    auto removed = s.RemoveAndKeep(user ? user->account : store::AccountId(), std::move(*image),
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
  }
};

std::optional<ApiServer::Impl::WebUser> ApiServer::Impl::SignedIn(const Request& req) {
  std::string token = web::CookieValue(req, web::kSessionCookie);
  if (token.empty()) return std::nullopt;
  auto session = store.sessions().Validate(token);
  if (!session.ok()) return std::nullopt;
  return WebUser{session->account, std::move(token)};
}

bool ApiServer::Impl::CsrfOk(const Request& req, const std::optional<WebUser>& user,
                             const std::string& form_token) {
  const std::string header = req.get_header_value("X-CSRF-Token");
  const std::string& presented = header.empty() ? form_token : header;
  if (user) return web::TokensMatch(presented, web::CsrfTokenForSession(user->session_token));
  // Signed out: the cookie must be one this deployment signed, and the form must repeat it.
  const std::string cookie = web::CookieValue(req, web::kCsrfCookie);
  return web::SignedOutCsrfTokenValid(FormKey(), cookie) && web::TokensMatch(presented, cookie);
}

std::string ApiServer::Impl::FormKey() {
  std::lock_guard lock(form_key_mu);
  if (form_key.empty()) {
    // Without the key no signed-out form can be checked: each is refused (csrf_failed) and the
    // log says why, rather than accepting unsigned tokens; the next request tries again.
    auto key = store.sessions().FormKey();
    if (key.ok()) {
      form_key.assign(key->begin(), key->end());
    } else {
      std::cerr << "bgerase serve: the form key could not be read: " << key.status().ToString()
                << "\n";
    }
  }
  return form_key;
}

std::string DefaultWebDir() {
  if (auto share = InstalledShareDir()) return (*share / "web").string();
  return BGERASE_WEB_DIR;
}

void ApiServer::Impl::RegisterWebPages() {
  web = std::make_shared<Web>(*this);
  web->dir = std::filesystem::path(config.web_dir.empty() ? DefaultWebDir() : config.web_dir);
  Web& w = *web;  // lives as long as the server

  AddRoute("GET", "/", "/web/page", [&w](const Request& req, Response& res) {
    w.Render(req, res, "index.html", w.s.SignedIn(req), {});
  });
  for (const std::string page : {"signup", "login"}) {
    AddRoute("GET", "/" + page, "/web/page", [&w, page](const Request& req, Response& res) {
      if (w.s.SignedIn(req)) return Redirect(res, "/account");
      w.AuthPage(req, res, page + ".html", "", "", 200);
    });
  }
  AddRoute("POST", "/signup", "/web/signup",
           [&w](const Request& req, Response& res) { w.Signup(req, res); });
  AddRoute("POST", "/login", "/web/login",
           [&w](const Request& req, Response& res) { w.Login(req, res); });
  AddRoute("GET", "/logout", "/web/page", [&w](const Request& req, Response& res) {
    const auto user = w.s.SignedIn(req);
    if (!user) return Redirect(res, "/login");
    w.Render(req, res, "logout.html", user, {});
  });
  AddRoute("POST", "/logout", "/web/logout",
           [&w](const Request& req, Response& res) { w.Logout(req, res); });
  AddRoute("GET", "/account", "/web/page",
           [&w](const Request& req, Response& res) { w.AccountPage(req, res); });
  AddRoute("GET", R"(/assets/([A-Za-z0-9_\-]+)\.(css|js|svg))", "/web/assets",
           [&w](const Request& req, Response& res) { w.Asset(req, res); });
  AddRoute(
      "POST", "/web/remove", "/web/remove",
      [&w](const Request& req, Response& res, const Reader& reader) { w.TryIt(req, res, reader); });
}

}  // namespace bgerase::api
