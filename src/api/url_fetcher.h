// Fetching `image_url`: http and https only, a size cap, timeouts, at most a few redirects (each
// checked again), and no requests to loopback, private, link-local, multicast or cloud-metadata
// addresses unless the operator allows private URLs. The host is resolved once and the
// connection pinned to the checked address, so DNS cannot swap in another one (rebinding).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "common/image_formats.h"
#include "common/status.h"

namespace bgerase::api {

struct UrlFetchOptions {
  bool allow_private = false;  // --allow-private-urls: tests and trusted networks only
  std::size_t max_bytes = kMaxImageBytes;
  int connect_timeout_s = 5;
  int read_timeout_s = 15;  // per socket read
  int max_redirects = 3;
};

// The body of a 200 answer for `url`. Every failure is "image_url_fetch_failed" with the reason
// in the message (bad URL, refused address, timeout, status, too large).
Result<std::string> FetchImageUrl(const std::string& url, const UrlFetchOptions& options);

// Whether `ip` (a numeric IPv4 or IPv6 address) is one a server must not be made to call:
// loopback, private, shared, link-local (cloud metadata), multicast, reserved, unspecified, or an
// IPv4-mapped form of one. Unparseable input counts as refused.
bool IsRefusedAddress(std::string_view ip);

}  // namespace bgerase::api
