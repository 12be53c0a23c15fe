// Who is calling: the TCP peer, or — when the peer is one of the operator's own proxies (a load
// balancer in front of the replicas, docs/reference/operations.md) — the client that proxy names in
// X-Forwarded-For. Throttles keyed on the address need this, or every client behind the balancer
// would share one budget and one stranger could lock everyone out.
#pragma once

#include <httplib.h>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace bgerase::api {

class TrustedProxies {
 public:
  // From CIDR ranges ("10.0.0.0/8", "fd00::/8", or a single address). Error "invalid_proxy_range"
  // naming the first bad entry.
  static Result<TrustedProxies> Parse(const std::vector<std::string>& ranges);

  // Whether `address` (numeric IPv4 or IPv6) is in one of the ranges.
  bool Contains(std::string_view address) const;

  // The client's address: the peer itself unless the peer is trusted; then X-Forwarded-For is
  // read from the right (the hop nearest to us), skipping trusted hops, and the first other
  // address is the client. A malformed entry ends the walk at the last trusted hop, so a client
  // cannot pick its own address by writing the header itself.
  std::string ClientOf(const httplib::Request& req) const;

  bool empty() const { return ranges_.empty(); }

 private:
  struct Range {
    int family = 0;  // AF_INET or AF_INET6
    std::array<std::uint8_t, 16> bytes{};
    int prefix = 0;
  };
  std::vector<Range> ranges_;
};

}  // namespace bgerase::api
