// TrustedProxies: CIDR matching and the X-Forwarded-For walk (see client_address.h).
#include "api/client_address.h"

#include <arpa/inet.h>

#include <cstring>
#include <optional>

#include "common/text.h"

namespace bgerase::api {
namespace {

struct Parsed {
  int family = 0;
  std::array<std::uint8_t, 16> bytes{};
};

std::optional<Parsed> ParseAddress(std::string_view text) {
  if (text.empty() || text.size() > 64 || text.find('\0') != std::string_view::npos)
    return std::nullopt;
  const std::string s(text);
  Parsed p;
  if (inet_pton(AF_INET, s.c_str(), p.bytes.data()) == 1) {
    p.family = AF_INET;
    return p;
  }
  if (inet_pton(AF_INET6, s.c_str(), p.bytes.data()) == 1) {
    p.family = AF_INET6;
    // An IPv4-mapped IPv6 peer (::ffff:a.b.c.d, what a dual-stack socket reports) is IPv4.
    static constexpr std::uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
    if (std::memcmp(p.bytes.data(), kMapped, 12) == 0) {
      std::memmove(p.bytes.data(), p.bytes.data() + 12, 4);
      std::memset(p.bytes.data() + 4, 0, 12);
      p.family = AF_INET;
    }
    return p;
  }
  return std::nullopt;
}

}  // namespace

Result<TrustedProxies> TrustedProxies::Parse(const std::vector<std::string>& ranges) {
  TrustedProxies out;
  for (const auto& text : ranges) {
    const auto slash = text.find('/');
    auto address = ParseAddress(Trim(std::string_view(text).substr(0, slash)));
    const auto bad = [&] {
      return Status("invalid_proxy_range", "not an address or CIDR range: '" + text + "'");
    };
    if (!address) return bad();
    Range r;
    r.family = address->family;
    r.bytes = address->bytes;
    const int max = r.family == AF_INET ? 32 : 128;
    r.prefix = max;
    if (slash != std::string::npos) {
      const std::string bits = text.substr(slash + 1);
      if (bits.empty() || bits.size() > 3 || bits.find_first_not_of("0123456789") != bits.npos)
        return bad();
      r.prefix = std::stoi(bits);
      if (r.prefix > max) return bad();
    }
    out.ranges_.push_back(r);
  }
  return out;
}

bool TrustedProxies::Contains(std::string_view address) const {
  const auto a = ParseAddress(Trim(address));
  if (!a) return false;
  for (const Range& r : ranges_) {
    if (r.family != a->family) continue;
    const int full = r.prefix / 8, rest = r.prefix % 8;
    if (std::memcmp(r.bytes.data(), a->bytes.data(), full) != 0) continue;
    if (rest != 0) {
      const std::uint8_t mask = static_cast<std::uint8_t>(0xFF << (8 - rest));
      if ((r.bytes[full] & mask) != (a->bytes[full] & mask)) continue;
    }
    return true;
  }
  return false;
}

std::string TrustedProxies::ClientOf(const httplib::Request& req) const {
  std::string client = req.remote_addr;
  if (ranges_.empty() || !Contains(client)) return client;
  // Every X-Forwarded-For header, in order, as one list; walked from the nearest hop outwards.
  std::vector<std::string_view> hops;
  std::vector<std::string> headers;
  const std::size_t n = req.get_header_value_count("X-Forwarded-For");
  for (std::size_t i = 0; i < n; ++i) headers.push_back(req.get_header_value("X-Forwarded-For", i));
  for (const auto& h : headers) {
    std::string_view rest = h;
    while (true) {
      const auto comma = rest.find(',');
      hops.push_back(Trim(rest.substr(0, comma)));
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
  }
  for (auto it = hops.rbegin(); it != hops.rend(); ++it) {
    if (!ParseAddress(*it)) break;  // malformed: keep the last trusted hop
    client = std::string(*it);
    if (!Contains(client)) break;
  }
  return client;
}

}  // namespace bgerase::api
