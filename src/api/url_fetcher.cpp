// FetchImageUrl: parse, resolve, check every address, pin, fetch with a cap; redirects repeat it.
#include "api/url_fetcher.h"

#include <arpa/inet.h>
#include <httplib.h>
#include <netdb.h>
#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <map>
#include <optional>
#include <vector>

#include "common/text.h"

namespace bgerase::api {
namespace {

Status Failed(const std::string& why) {
  return Status("image_url_fetch_failed", "Could not fetch image_url: " + why);
}

struct Url {
  std::string scheme, host, path;
  int port = 0;
};

std::optional<Url> ParseUrl(const std::string& url) {
  Url u;
  const auto colon = url.find("://");
  if (colon == std::string::npos) return std::nullopt;
  u.scheme = Lower(url.substr(0, colon));
  if (u.scheme != "http" && u.scheme != "https") return std::nullopt;
  std::string rest = url.substr(colon + 3);
  const auto slash = rest.find_first_of("/?#");
  std::string authority = rest.substr(0, slash);
  u.path = slash == std::string::npos ? "/" : rest.substr(slash);
  if (u.path[0] != '/') u.path = "/" + u.path;
  if (const auto hash = u.path.find('#'); hash != std::string::npos) u.path.resize(hash);
  // Userinfo ("user@host") is refused: it only serves to make a URL look like another host.
  if (authority.empty() || authority.find('@') != std::string::npos) return std::nullopt;
  std::string port;
  if (authority[0] == '[') {
    const auto close = authority.find(']');
    if (close == std::string::npos) return std::nullopt;
    u.host = authority.substr(1, close - 1);
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') return std::nullopt;
      port = authority.substr(close + 2);
    }
  } else {
    const auto c = authority.rfind(':');
    u.host = authority.substr(0, c);
    if (c != std::string::npos) port = authority.substr(c + 1);
  }
  u.port = u.scheme == "https" ? 443 : 80;
  if (!port.empty()) {
    if (port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos)
      return std::nullopt;
    u.port = std::stoi(port);
    if (u.port < 1 || u.port > 65535) return std::nullopt;
  }
  if (u.host.empty()) return std::nullopt;
  return u;
}

bool RefusedV4(const std::uint8_t a[4]) {
  const std::uint32_t v =
      (std::uint32_t(a[0]) << 24) | (std::uint32_t(a[1]) << 16) | (std::uint32_t(a[2]) << 8) | a[3];
  struct Range {
    std::uint32_t net;
    int bits;
  };
  static constexpr Range kRefused[] = {
      {0x00000000, 8},   // "this" network
      {0x0A000000, 8},   // private
      {0x64400000, 10},  // shared (carrier-grade NAT)
      {0x7F000000, 8},   // loopback
      {0xA9FE0000, 16},  // link-local, including 169.254.169.254 (cloud metadata)
      {0xAC100000, 12},  // private
      {0xC0000000, 24},  // IETF protocol assignments
      {0xC0000200, 24},  // documentation
      {0xC0A80000, 16},  // private
      {0xC6120000, 15},  // benchmarking
      {0xC6336400, 24},  // documentation
      {0xCB007100, 24},  // documentation
      {0xE0000000, 4},   // multicast
      {0xF0000000, 4},   // reserved, broadcast
  };
  for (const auto& r : kRefused)
    if ((v >> (32 - r.bits)) == (r.net >> (32 - r.bits))) return true;
  return false;
}

}  // namespace

bool IsRefusedAddress(std::string_view ip) {
  // inet_pton reads up to a NUL: "::f\0junk" would pass as "::f". Text with a NUL is no address.
  if (ip.find('\0') != std::string_view::npos) return true;
  const std::string s(ip);
  std::uint8_t v4[4];
  if (inet_pton(AF_INET, s.c_str(), v4) == 1) return RefusedV4(v4);
  std::uint8_t v6[16];
  if (inet_pton(AF_INET6, s.c_str(), v6) != 1) return true;
  static constexpr std::uint8_t kZero[16] = {};
  // ::/96: ::, ::1 and the deprecated IPv4-compatible ::a.b.c.d — none is a public host.
  if (std::memcmp(v6, kZero, 12) == 0) return true;
  const std::uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
  if (std::memcmp(v6, mapped, 12) == 0) return RefusedV4(v6 + 12);  // ::ffff:a.b.c.d
  const std::uint8_t nat64[12] = {0, 0x64, 0xFF, 0x9B, 0, 0, 0, 0, 0, 0, 0, 0};
  if (std::memcmp(v6, nat64, 12) == 0) return RefusedV4(v6 + 12);  // 64:ff9b::a.b.c.d
  if (v6[0] == 0x20 && v6[1] == 0x02) return RefusedV4(v6 + 2);    // 6to4 2002:a.b.c.d::/48
  if (v6[0] == 0x20 && v6[1] == 0x01 && v6[2] == 0 && v6[3] == 0) return true;  // Teredo
  if ((v6[0] & 0xFE) == 0xFC) return true;                   // fc00::/7 unique local
  if (v6[0] == 0xFE && (v6[1] & 0xC0) == 0x80) return true;  // fe80::/10 link-local
  if (v6[0] == 0xFF) return true;                            // multicast
  if (v6[0] == 0x20 && v6[1] == 0x01 && v6[2] == 0x0D && v6[3] == 0xB8) return true;  // docs
  return false;
}

Result<std::string> FetchImageUrl(const std::string& url_text, const UrlFetchOptions& options) {
  std::string current = url_text;
  for (int hop = 0; hop <= options.max_redirects; ++hop) {
    auto url = ParseUrl(current);
    if (!url) return Failed("not an http or https URL (" + Echo(current) + ")");

    // Resolve once; every address must be allowed, and the connection goes to the first one.
    // Unresolvable and refused hosts get the same answer, so the filter cannot be used to map
    // internal names.
    const auto unreachable = [&] {
      return Failed("the host '" + url->host +
                    "' does not resolve to a public address, and this server calls no others");
    };
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    if (getaddrinfo(url->host.c_str(), nullptr, &hints, &found) != 0 || !found)
      return unreachable();
    std::vector<std::string> addresses;
    for (addrinfo* a = found; a; a = a->ai_next) {
      char buf[INET6_ADDRSTRLEN] = {};
      const void* src =
          a->ai_family == AF_INET
              ? static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(a->ai_addr)->sin_addr)
              : static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(a->ai_addr)->sin6_addr);
      if (inet_ntop(a->ai_family, src, buf, sizeof buf)) addresses.emplace_back(buf);
    }
    freeaddrinfo(found);
    if (addresses.empty()) return unreachable();
    if (!options.allow_private)
      for (const auto& a : addresses)
        if (IsRefusedAddress(a)) return unreachable();

    const std::string origin = url->scheme + "://" + url->host + ":" + std::to_string(url->port);
    httplib::Client client(
        url->scheme + "://" +
        (url->host.find(':') != std::string::npos ? "[" + url->host + "]" : url->host) + ":" +
        std::to_string(url->port));
    client.set_hostname_addr_map({{url->host, addresses.front()}});
    client.set_connection_timeout(options.connect_timeout_s, 0);
    client.set_read_timeout(options.read_timeout_s, 0);
    client.set_write_timeout(options.connect_timeout_s, 0);
    client.set_follow_location(false);  // followed below, each hop checked again

    int status = 0;
    std::string location, body;
    bool too_large = false;
    auto res = client.Get(
        url->path, httplib::Headers{{"Accept", "image/*"}},
        [&](const httplib::Response& r) {
          status = r.status;
          location = r.get_header_value("Location");
          if (r.has_header("Content-Length") &&
              r.get_header_value<std::uint64_t>("Content-Length") > options.max_bytes) {
            too_large = true;
            return false;
          }
          return status == 200;
        },
        [&](const char* data, std::size_t n) {
          if (body.size() + n > options.max_bytes) {
            too_large = true;
            return false;
          }
          body.append(data, n);
          return true;
        });
    if (too_large)
      return Failed("the image is larger than " + std::to_string(options.max_bytes) + " bytes");
    if (status >= 300 && status < 400 && !location.empty()) {
      current = location[0] == '/' ? origin + location : location;
      continue;
    }
    if (status != 0 && status != 200)
      return Failed("the server answered HTTP " + std::to_string(status));
    if (!res) return Failed(httplib::to_string(res.error()));
    return body;
  }
  return Failed("more than " + std::to_string(options.max_redirects) + " redirects");
}

}  // namespace bgerase::api
