// The web pages' security vocabulary: cookies, CSRF tokens, login throttling, security headers and
// page templates. Pure functions and one small thread-safe class; web_pages.cpp and
// web_account_routes.cpp wire them up.
// docs/reference/web.md describes the scheme.
#pragma once

#include <httplib.h>

#include <chrono>
#include <cstddef>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "api/client_address.h"

namespace bgerase::api::web {

// Cookie names. The session cookie holds the store's session token (only its hash is stored);
// the CSRF cookie holds a server-signed random token for the double-submit check of signed-out
// forms (SignedOutCsrfToken).
inline constexpr char kSessionCookie[] = "bgerase_session";
inline constexpr char kCsrfCookie[] = "bgerase_csrf";
// How long a web session lasts after sign-in.
inline constexpr std::chrono::seconds kSessionTtl = std::chrono::hours(12);

// The value of cookie `name` in the request's Cookie header(s); empty when absent.
std::string CookieValue(const httplib::Request& req, std::string_view name);

// A Set-Cookie value: HttpOnly, SameSite=Strict, Path=/, Secure when `secure`. `max_age_s` < 0
// omits Max-Age (a browser-session cookie); 0 deletes the cookie.
std::string CookieHeader(std::string_view name, std::string_view value, bool secure,
                         long long max_age_s);

// Whether the client reached us over https: a --trusted-proxy's X-Forwarded-Proto says so (the
// server itself speaks plain HTTP; a header from anyone else is ignored).
bool OverHttps(const httplib::Request& req, const TrustedProxies& proxies);

// 32 random bytes as 64 hex digits (libsodium's randombytes).
std::string RandomToken();

// The CSRF token of a signed-in session: BLAKE2b of the session token under a fixed context, so
// every replica can check it without shared state and it reveals nothing about the session token.
std::string CsrfTokenForSession(std::string_view session_token);

// The signed-out CSRF token (the double-submit cookie's value): 16 random bytes and their keyed
// BLAKE2b under `form_key` (SessionStore::FormKey), 64 hex digits in all. A visitor cannot choose
// one of their own that the server accepts, so a planted cookie with a matching form field fails.
std::string SignedOutCsrfToken(std::string_view form_key);
// Whether `token` is one SignedOutCsrfToken made under `form_key` (constant time in the MAC).
bool SignedOutCsrfTokenValid(std::string_view form_key, std::string_view token);

// Constant-time comparison of two tokens; false when either is empty or the lengths differ.
bool TokensMatch(std::string_view a, std::string_view b);

// `next` when it is a same-site relative path ("/account", "/account?x=1"), else "/account".
// Refuses "//host", "/\host", schemes and control characters, so a login link cannot send the
// customer elsewhere.
std::string SafeNext(std::string_view next);

// The headers every page and web endpoint carries: CSP without inline script, nosniff,
// no-referrer, frame denial. `no_store` adds Cache-Control: no-store (signed-in content).
void SetSecurityHeaders(httplib::Response& res, bool no_store);

// HTML-escapes text for element content and attribute values.
std::string HtmlEscape(std::string_view s);

// Replaces each `{{name}}` in `page` by its value, in one pass: values are inserted as given
// (callers escape) and never scanned again; unknown placeholders are left as they are.
std::string FillTemplate(std::string_view page,
                         const std::vector<std::pair<std::string, std::string>>& values);

// Login attempts and anonymous removals, throttled by a key (an email, an address): a bucket of
// `burst` attempts refilled at `per_second`. Full buckets are dropped, so keys chosen by strangers
// cannot grow it without bound. Thread-safe.
class AttemptThrottle {
 public:
  AttemptThrottle(double burst, double per_second) : burst_(burst), rate_(per_second) {}

  // 0 when the attempt may go ahead (and is counted), else the seconds to wait.
  int Take(const std::string& key);
  // Like Take, without counting an attempt: for throttles that count only failures.
  int Wait(const std::string& key);

 private:
  struct Bucket {
    double tokens;
    std::chrono::steady_clock::time_point at;
  };
  const double burst_, rate_;
  std::mutex mu_;
  std::map<std::string, Bucket> buckets_;
  std::size_t takes_ = 0;  // guarded by mu_; prunes every so often
};

}  // namespace bgerase::api::web
