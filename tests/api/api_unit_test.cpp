// Unit tests of the API's pure parts: the error catalogue's renderings and the address filter
// that keeps image_url away from internal networks.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "api/client_address.h"
#include "api/error_catalogue.h"
#include "api/url_fetcher.h"

namespace bgerase::api {
namespace {

using json = nlohmann::json;

TEST(ErrorCatalogue, EveryCodeOfTheContractHasItsStatus) {
  const std::pair<const char*, int> contract[] = {
      {"bad_request", 400},       {"invalid_bg_color", 400},
      {"invalid_base64", 400},    {"image_url_fetch_failed", 400},
      {"unsupported_image", 400}, {"corrupt_image", 400},
      {"missing_api_key", 401},   {"invalid_api_key", 401},
      {"payload_too_large", 413}, {"image_too_large", 413},
      {"validation_error", 422},  {"rate_limited", 429},
      {"overloaded", 503},        {"store_unavailable", 503}};
  for (const auto& [code, status] : contract) {
    EXPECT_EQ(LookupError(code).code, code);
    EXPECT_EQ(LookupError(code).http_status, status) << code;
  }
  EXPECT_EQ(LookupError("database_error").code, "internal_error");
  EXPECT_EQ(LookupError("database_error").http_status, 500);
}

TEST(ErrorCatalogue, RendersBothDialectsAndHidesInternalMessages) {
  ApiError e{"validation_error", "size is bad", {{"enum", "size", "size must be ...", "huge"}}, 0};
  json v2 = json::parse(RenderError(e, Dialect::kV2, "req_1"));
  EXPECT_EQ(v2["error"]["code"], "validation_error");
  EXPECT_EQ(v2["error"]["status"], 422);
  EXPECT_EQ(v2["error"]["request_id"], "req_1");
  EXPECT_EQ(v2["error"]["details"][0]["loc"], json::array({"body", "size"}));
  EXPECT_EQ(v2["error"]["details"][0]["input"], "huge");
  json rb = json::parse(RenderError(e, Dialect::kRemoveBg, "req_1"));
  EXPECT_EQ(rb["errors"][0]["code"], "validation_error");
  EXPECT_EQ(rb["errors"][0]["detail"], "size must be ...");

  json internal = json::parse(
      RenderError({"database_error", "sqlite: /srv/secret/path locked", {}, 0}, Dialect::kV2, "r"));
  EXPECT_EQ(internal["error"]["code"], "internal_error");
  EXPECT_EQ(internal["error"]["message"].get<std::string>().find("secret"), std::string::npos);

  // A database outage is the client's to retry, but the driver's text names the database's host.
  json outage = json::parse(
      RenderError({"store_unavailable", "connection to server at \"10.0.0.5\" failed", {}, 0},
                  Dialect::kV2, "r"));
  EXPECT_EQ(outage["error"]["code"], "store_unavailable");
  EXPECT_EQ(outage["error"]["status"], 503);
  EXPECT_EQ(outage["error"]["message"].get<std::string>().find("10.0.0.5"), std::string::npos);
}

// One rule for every page that answers an error (API routes and the web forms alike).
TEST(ErrorCatalogue, RetryAfterForOutagesAndThrottles) {
  EXPECT_EQ(RetryAfterSeconds({"store_unavailable", "", {}, 0}), kStoreRetryAfterS);
  EXPECT_EQ(RetryAfterSeconds({"rate_limited", "Too many requests; retry in 7 s.", {}, 0}), 7);
  EXPECT_EQ(RetryAfterSeconds({"rate_limited", "", {}, 0}), 1);
  EXPECT_EQ(RetryAfterSeconds({"overloaded", "", {}, 3}), 3);
  EXPECT_EQ(RetryAfterSeconds({"internal_error", "", {}, 0}), 0);
}

TEST(UrlFetcher, RefusesInternalAddresses) {
  for (const char* ip : {"127.0.0.1",
                         "10.1.2.3",
                         "172.16.0.1",
                         "172.31.255.255",
                         "192.168.1.1",
                         "169.254.169.254",
                         "100.64.0.1",
                         "0.0.0.0",
                         "224.0.0.1",
                         "255.255.255.255",
                         "::1",
                         "::",
                         "fe80::1",
                         "fd00:ec2::254",
                         "::ffff:127.0.0.1",
                         "::ffff:169.254.169.254",
                         "64:ff9b::a00:1",
                         "ff02::1",
                         "not an ip",
                         "::127.0.0.1",
                         "::f",
                         "2002:7f00:1::1",
                         "2002:a9fe:a9fe::",
                         "2001:0:4136:e378:8000:63bf:3fff:fdd2"})
    EXPECT_TRUE(IsRefusedAddress(ip)) << ip;
  // Found by fuzz_address: a NUL ends what inet_pton reads, so this parsed as "::f".
  EXPECT_TRUE(IsRefusedAddress(std::string_view("2606:4700::1111\0x", 17)));
  for (const char* ip : {"8.8.8.8", "1.1.1.1", "172.32.0.1", "192.169.0.1", "2606:4700::1111",
                         "::ffff:8.8.8.8", "2002:808:808::1"})
    EXPECT_FALSE(IsRefusedAddress(ip)) << ip;
}

TEST(UrlFetcher, RefusesBadUrlsWithoutNetwork) {
  for (const char* url :
       {"ftp://example.com/a.png", "file:///etc/passwd", "example.com/a.png",
        "http://user@127.0.0.1/", "http://127.0.0.1/a.png", "http://[::1]:8080/a.png",
        "http://169.254.169.254/latest/meta-data", "http://0x7f000001/"}) {
    auto r = FetchImageUrl(url, {});
    ASSERT_FALSE(r.ok()) << url;
    EXPECT_EQ(r.status().code(), "image_url_fetch_failed") << url;
  }
}

TEST(TrustedProxies, ParsesRangesAndRefusesNonsense) {
  auto p = TrustedProxies::Parse({"10.0.0.0/8", "192.168.1.7", "fd00::/8"});
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_TRUE(p->Contains("10.200.3.4"));
  EXPECT_TRUE(p->Contains("::ffff:10.1.1.1"));  // what a dual-stack socket reports
  EXPECT_TRUE(p->Contains("192.168.1.7"));
  EXPECT_FALSE(p->Contains("192.168.1.8"));
  EXPECT_TRUE(p->Contains("fd12:3456::1"));
  EXPECT_FALSE(p->Contains("fe80::1"));
  EXPECT_FALSE(p->Contains("11.0.0.1"));
  EXPECT_FALSE(p->Contains("not an address"));
  for (const char* bad : {"10.0.0.0/33", "10.0.0.0/", "10.0.0.0/x", "example.com", "::/129", ""})
    EXPECT_EQ(TrustedProxies::Parse({bad}).status().code(), "invalid_proxy_range") << bad;
}

TEST(TrustedProxies, ClientIsTheNearestUntrustedHop) {
  auto p = TrustedProxies::Parse({"10.0.0.0/8"});
  ASSERT_TRUE(p.ok());
  auto request = [](std::string peer, std::vector<std::string> xff) {
    httplib::Request r;
    r.remote_addr = std::move(peer);
    for (auto& h : xff) r.headers.emplace("X-Forwarded-For", h);
    return r;
  };
  // Not from a trusted proxy: the header is the client's own words and is ignored.
  EXPECT_EQ(p->ClientOf(request("203.0.113.9", {"198.51.100.1"})), "203.0.113.9");
  // From the balancer: the client it names.
  EXPECT_EQ(p->ClientOf(request("10.0.0.2", {"198.51.100.1"})), "198.51.100.1");
  // A client writing its own X-Forwarded-For cannot pick its address: the nearest untrusted hop
  // (what our proxy appended) wins, across several headers too.
  EXPECT_EQ(p->ClientOf(request("10.0.0.2", {"1.2.3.4, 198.51.100.1"})), "198.51.100.1");
  EXPECT_EQ(p->ClientOf(request("10.0.0.2", {"1.2.3.4", "198.51.100.1, 10.0.0.3"})),
            "198.51.100.1");
  // Garbage stops the walk at the last trusted hop; no header at all: the proxy itself.
  EXPECT_EQ(p->ClientOf(request("10.0.0.2", {"junk, 10.0.0.3"})), "10.0.0.3");
  EXPECT_EQ(p->ClientOf(request("10.0.0.2", {})), "10.0.0.2");
  // No trusted proxies configured: always the peer.
  EXPECT_EQ(TrustedProxies{}.ClientOf(request("10.0.0.2", {"198.51.100.1"})), "10.0.0.2");
}

}  // namespace
}  // namespace bgerase::api
