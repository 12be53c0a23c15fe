// The web pages' pure security helpers: cookies, CSRF tokens, `next` values, templates, throttles.
#include "api/web_session.h"

#include <gtest/gtest.h>

namespace bgerase::api::web {
namespace {

TEST(WebSession, ReadsCookiesFromEveryCookieHeader) {
  httplib::Request req;
  req.headers.emplace("Cookie", "a=1; bgerase_csrf=abc ; other=x=y");
  req.headers.emplace("Cookie", "bgerase_session=tok");
  EXPECT_EQ(CookieValue(req, kCsrfCookie), "abc");
  EXPECT_EQ(CookieValue(req, kSessionCookie), "tok");
  EXPECT_EQ(CookieValue(req, "other"), "x=y");
  EXPECT_EQ(CookieValue(req, "bgerase"), "");
}

TEST(WebSession, CookiesAreHttpOnlyStrictAndSecureOverHttps) {
  EXPECT_EQ(CookieHeader("n", "v", false, -1), "n=v; Path=/; HttpOnly; SameSite=Strict");
  EXPECT_EQ(CookieHeader("n", "", true, 0),
            "n=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0; Secure");
}

TEST(WebSession, CsrfTokenIsBoundToTheSession) {
  const std::string a = CsrfTokenForSession("session-a");
  EXPECT_EQ(a.size(), 64u);
  EXPECT_EQ(a, CsrfTokenForSession("session-a"));  // any replica computes the same
  EXPECT_NE(a, CsrfTokenForSession("session-b"));
  EXPECT_EQ(a.find("session"), std::string::npos);
  EXPECT_TRUE(TokensMatch(a, CsrfTokenForSession("session-a")));
  EXPECT_FALSE(TokensMatch(a, CsrfTokenForSession("session-b")));
  EXPECT_FALSE(TokensMatch("", ""));
  EXPECT_FALSE(TokensMatch(a, a.substr(1)));
  EXPECT_NE(RandomToken(), RandomToken());
}

TEST(WebSession, SignedOutCsrfTokensAreSignedByTheFormKey) {
  const std::string key(32, 'k'), other(32, 'o');
  const std::string t = SignedOutCsrfToken(key);
  EXPECT_EQ(t.size(), 64u);
  EXPECT_NE(t, SignedOutCsrfToken(key));  // a fresh nonce each time
  EXPECT_TRUE(SignedOutCsrfTokenValid(key, t));
  EXPECT_FALSE(SignedOutCsrfTokenValid(other, t));  // another deployment's token
  EXPECT_FALSE(SignedOutCsrfTokenValid("", t));     // no key: nothing is valid
  // A value the visitor picks, however well-formed, is not one the server signed.
  EXPECT_FALSE(SignedOutCsrfTokenValid(key, std::string(64, 'a')));
  EXPECT_FALSE(SignedOutCsrfTokenValid(key, RandomToken()));
  for (std::size_t i = 0; i < t.size(); ++i) {
    std::string tampered = t;
    tampered[i] = tampered[i] == '0' ? '1' : '0';
    EXPECT_FALSE(SignedOutCsrfTokenValid(key, tampered)) << "digit " << i;
  }
  EXPECT_FALSE(SignedOutCsrfTokenValid(key, t.substr(2)));
  EXPECT_FALSE(SignedOutCsrfTokenValid(key, t + "00"));
  EXPECT_FALSE(SignedOutCsrfTokenValid(key, "zz" + t.substr(2)));
}

TEST(WebSession, NextStaysOnThisSite) {
  EXPECT_EQ(SafeNext("/account"), "/account");
  EXPECT_EQ(SafeNext("/account?tab=keys"), "/account?tab=keys");
  for (const char* bad : {"", "account", "//evil.example", "/\\evil.example",
                          "https://evil.example", "/a\r\nSet-Cookie: x", "javascript:alert(1)"})
    EXPECT_EQ(SafeNext(bad), "/account") << bad;
}

TEST(WebSession, TemplatesFillInOnePassAndEscapeIsComplete) {
  EXPECT_EQ(FillTemplate("<p>{{a}} {{b}} {{a}} {{unknown}}</p>", {{"a", "1"}, {"b", "{{a}}"}}),
            "<p>1 {{a}} 1 {{unknown}}</p>");
  EXPECT_EQ(FillTemplate("no close {{a", {{"a", "1"}}), "no close {{a");
  EXPECT_EQ(HtmlEscape(R"(<a href="x">'&'</a>)"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
}

TEST(WebSession, ThrottleAllowsABurstThenWaits) {
  AttemptThrottle throttle(3, 1.0 / 60);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(throttle.Take("ada@example.com"), 0);
  const int wait = throttle.Take("ada@example.com");
  EXPECT_GT(wait, 0);
  EXPECT_LE(wait, 60);
  EXPECT_EQ(throttle.Take("bob@example.com"), 0) << "keys are independent";
}

}  // namespace
}  // namespace bgerase::api::web
