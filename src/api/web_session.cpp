// Cookies, CSRF tokens, throttling and templates for the web pages (see web_session.h).
#include "api/web_session.h"

#include <sodium.h>

#include <algorithm>
#include <cmath>

#include "common/text.h"
#include "store/secrets.h"

namespace bgerase::api::web {
namespace {

std::string Hex(const unsigned char* bytes, std::size_t n) {
  std::string out(n * 2 + 1, '\0');
  sodium_bin2hex(out.data(), out.size(), bytes, n);
  out.pop_back();
  return out;
}

}  // namespace

std::string CookieValue(const httplib::Request& req, std::string_view name) {
  const std::size_t headers = req.get_header_value_count("Cookie");
  for (std::size_t h = 0; h < headers; ++h) {
    const std::string header = req.get_header_value("Cookie", h);
    std::string_view rest = header;
    while (!rest.empty()) {
      const auto semi = rest.find(';');
      const std::string_view pair = Trim(rest.substr(0, semi));
      rest = semi == std::string_view::npos ? std::string_view() : rest.substr(semi + 1);
      const auto eq = pair.find('=');
      if (eq != std::string_view::npos && Trim(pair.substr(0, eq)) == name)
        return std::string(Trim(pair.substr(eq + 1)));
    }
  }
  return "";
}

std::string CookieHeader(std::string_view name, std::string_view value, bool secure,
                         long long max_age_s) {
  std::string c =
      std::string(name) + "=" + std::string(value) + "; Path=/; HttpOnly; SameSite=Strict";
  if (max_age_s >= 0) c += "; Max-Age=" + std::to_string(max_age_s);
  if (secure) c += "; Secure";
  return c;
}

bool OverHttps(const httplib::Request& req, const TrustedProxies& proxies) {
  // Only a --trusted-proxy says how the client connected; anyone else could write the header.
  return proxies.Contains(req.remote_addr) &&
         Lower(Trim(req.get_header_value("X-Forwarded-Proto"))) == "https";
}

std::string RandomToken() {
  return store::RandomHex32();
}

std::string CsrfTokenForSession(std::string_view session_token) {
  static constexpr std::string_view kContext = "bgerase web csrf v1";
  unsigned char out[32];
  // Keyed BLAKE2b: the session token is the key (at most 64 bytes are used), the context the
  // message, so the token is useless for anything but this check.
  const std::size_t key_len =
      std::min<std::size_t>(session_token.size(), crypto_generichash_KEYBYTES_MAX);
  crypto_generichash(out, sizeof out, reinterpret_cast<const unsigned char*>(kContext.data()),
                     kContext.size(), reinterpret_cast<const unsigned char*>(session_token.data()),
                     key_len);
  return Hex(out, sizeof out);
}

namespace {

constexpr std::size_t kCsrfNonceBytes = 16, kCsrfMacBytes = 16;

void CsrfMac(std::string_view form_key, const unsigned char* nonce, unsigned char* mac) {
  static constexpr std::string_view kContext = "bgerase signed-out csrf v1";
  unsigned char message[kContext.size() + kCsrfNonceBytes];
  std::copy(kContext.begin(), kContext.end(), message);
  std::copy(nonce, nonce + kCsrfNonceBytes, message + kContext.size());
  const std::size_t key_len =
      std::min<std::size_t>(form_key.size(), crypto_generichash_KEYBYTES_MAX);
  crypto_generichash(mac, kCsrfMacBytes, message, sizeof message,
                     reinterpret_cast<const unsigned char*>(form_key.data()), key_len);
}

}  // namespace

std::string SignedOutCsrfToken(std::string_view form_key) {
  unsigned char raw[kCsrfNonceBytes + kCsrfMacBytes];
  randombytes_buf(raw, kCsrfNonceBytes);
  CsrfMac(form_key, raw, raw + kCsrfNonceBytes);
  return Hex(raw, sizeof raw);
}

bool SignedOutCsrfTokenValid(std::string_view form_key, std::string_view token) {
  unsigned char raw[kCsrfNonceBytes + kCsrfMacBytes];
  std::size_t len = 0;
  if (form_key.empty() || token.size() != 2 * sizeof raw ||
      sodium_hex2bin(raw, sizeof raw, token.data(), token.size(), nullptr, &len, nullptr) != 0 ||
      len != sizeof raw)
    return false;
  unsigned char mac[kCsrfMacBytes];
  CsrfMac(form_key, raw, mac);
  return sodium_memcmp(mac, raw + kCsrfNonceBytes, kCsrfMacBytes) == 0;
}

bool TokensMatch(std::string_view a, std::string_view b) {
  if (a.empty() || b.empty() || a.size() != b.size()) return false;
  return sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string SafeNext(std::string_view next) {
  static const std::string kDefault = "/account";
  if (next.empty() || next.front() != '/' || next.size() > 512) return kDefault;
  if (next.size() > 1 && (next[1] == '/' || next[1] == '\\')) return kDefault;
  for (char c : next) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f || c == '\\') return kDefault;
  }
  return std::string(next);
}

void SetSecurityHeaders(httplib::Response& res, bool no_store) {
  // Idempotent: a handler may call it again on its way to an error page.
  for (const char* name : {"Content-Security-Policy", "X-Content-Type-Options", "Referrer-Policy",
                           "X-Frame-Options", "Cache-Control"})
    res.headers.erase(name);
  res.set_header("Content-Security-Policy",
                 "default-src 'self'; script-src 'self'; style-src 'self'; "
                 "img-src 'self' data: blob:; connect-src 'self'; frame-ancestors 'none'; "
                 "base-uri 'none'; form-action 'self'; object-src 'none'");
  res.set_header("X-Content-Type-Options", "nosniff");
  res.set_header("Referrer-Policy", "no-referrer");
  res.set_header("X-Frame-Options", "DENY");
  if (no_store) res.set_header("Cache-Control", "no-store");
}

std::string HtmlEscape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string FillTemplate(std::string_view page,
                         const std::vector<std::pair<std::string, std::string>>& values) {
  // One pass: inserted values are never scanned again, so a value that happens to contain
  // "{{...}}" (an email, say) stays as typed.
  std::string out;
  out.reserve(page.size());
  while (!page.empty()) {
    const auto open = page.find("{{");
    const auto close = open == std::string_view::npos ? open : page.find("}}", open + 2);
    if (close == std::string_view::npos) break;
    out += page.substr(0, open);
    const std::string_view name = page.substr(open + 2, close - open - 2);
    const auto value =
        std::find_if(values.begin(), values.end(), [&](const auto& v) { return v.first == name; });
    out += value == values.end() ? page.substr(open, close + 2 - open) : value->second;
    page.remove_prefix(close + 2);
  }
  out += page;
  return out;
}

int AttemptThrottle::Take(const std::string& key) {
  std::lock_guard lock(mu_);
  const auto now = std::chrono::steady_clock::now();
  auto refill = [&](Bucket& b) {
    b.tokens =
        std::min(burst_, b.tokens + rate_ * std::chrono::duration<double>(now - b.at).count());
    b.at = now;
  };
  if (++takes_ % 1024 == 0) {
    for (auto it = buckets_.begin(); it != buckets_.end();) {
      refill(it->second);
      it = it->second.tokens >= burst_ ? buckets_.erase(it) : std::next(it);
    }
  }
  auto [it, fresh] = buckets_.try_emplace(key, Bucket{burst_, now});
  Bucket& b = it->second;
  if (!fresh) refill(b);
  if (b.tokens >= 1) {
    b.tokens -= 1;
    return 0;
  }
  return std::max(1, static_cast<int>(std::ceil((1 - b.tokens) / rate_)));
}

int AttemptThrottle::Wait(const std::string& key) {
  std::lock_guard lock(mu_);
  auto it = buckets_.find(key);
  if (it == buckets_.end()) return 0;
  const Bucket& b = it->second;
  const double tokens = std::min(
      burst_,
      b.tokens +
          rate_ * std::chrono::duration<double>(std::chrono::steady_clock::now() - b.at).count());
  if (tokens >= 1) return 0;
  return std::max(1, static_cast<int>(std::ceil((1 - tokens) / rate_)));
}

}  // namespace bgerase::api::web
