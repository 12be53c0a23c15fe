// Hostile clients against a real `bgerase serve` on loopback (docs/security.md): sockets that
// send part of a request and stop, trickle it a byte a second, or sit idle by the hundred must not
// keep other clients from their answers; wrong API keys at a high rate are throttled per address.
// Deadlines here are generous (the machine may be busy): they prove "closed" and "answered", not
// speed.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "test_server.h"

namespace bgerase::api::testing {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// A connected loopback socket, or -1.
int Connect(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

bool Send(int fd, const std::string& s) {
  return send(fd, s.data(), s.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(s.size());
}

// Whether the server has closed `fd` (EOF or reset); what it sent before is appended to `seen`.
// Waits up to `wait` for something to happen.
bool ClosedByServer(int fd, std::chrono::milliseconds wait, std::string* seen) {
  pollfd p{fd, POLLIN, 0};
  if (poll(&p, 1, static_cast<int>(wait.count())) <= 0) return false;
  char buf[4096];
  for (;;) {
    const ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n > 0) {
      seen->append(buf, static_cast<std::size_t>(n));
      continue;
    }
    return n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
  }
}

// GET /v2/health on a fresh connection, waiting at most 20 s for the answer: its status, or 0.
int HealthStatus(const TestServer& server) {
  httplib::Client c("127.0.0.1", server.port());
  c.set_connection_timeout(20, 0);
  c.set_read_timeout(20, 0);
  auto res = c.Get("/v2/health");
  return res ? res->status : 0;
}

class HostileClients : public ::testing::Test {
 protected:
  void TearDown() override { server_.Stop(); }
  TestServer server_;
};

// Today's pool is ~17 request threads; 40 sockets each holding half a request line used to take
// them all for 30 s (the per-read timeout), so a health check timed out.
TEST_F(HostileClients, PartialRequestLinesDoNotStarveANewClient) {
  server_.Start();
  std::vector<int> stuck;
  for (int i = 0; i < 40; ++i) {
    const int fd = Connect(server_.port());
    ASSERT_GE(fd, 0);
    ASSERT_TRUE(Send(fd, "GET /v2/hea"));
    stuck.push_back(fd);
  }
  std::this_thread::sleep_for(300ms);  // let the server take them all in
  EXPECT_EQ(HealthStatus(server_), 200);
  for (int fd : stuck) close(fd);
}

// A byte a second never trips a per-read timeout; the request deadline (3 s here) still ends it,
// with a 408 for a client that reads answers.
TEST_F(HostileClients, ByteASecondHeaderTricklerIsClosedAtTheDeadline) {
  server_.Start({"--request-deadline", "3"});
  const int fd = Connect(server_.port());
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(Send(fd, "GET /v2/health HTTP/1.1\r\nHost: 127.0.0.1\r\n"));
  const auto start = Clock::now();
  std::string seen;
  bool closed = false;
  const std::string trickle =
      "X-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
  for (std::size_t i = 0; i < trickle.size() && !closed; ++i) {
    if (!Send(fd, trickle.substr(i, 1))) closed = true;  // reset: closed
    if (!closed) closed = ClosedByServer(fd, 1s, &seen);
  }
  const auto took = Clock::now() - start;
  close(fd);
  EXPECT_TRUE(closed) << "still open after a minute of trickling";
  EXPECT_LT(took, 30s) << "cut off, but long after the 3 s deadline";
  if (!seen.empty()) {
    EXPECT_EQ(seen.substr(0, seen.find("\r\n")), "HTTP/1.1 408 Request Timeout");
  }
  EXPECT_EQ(HealthStatus(server_), 200);
}

// The same for a body: complete headers announcing 1000 bytes, then a byte a second.
TEST_F(HostileClients, ByteASecondBodyTricklerIsClosedAtTheDeadline) {
  server_.Start({"--request-deadline", "3"});
  const int fd = Connect(server_.port());
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(Send(fd,
                   "PUT /v2/account/training-consent HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                   "x-api-key: " +
                       server_.key() +
                       "\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"));
  const auto start = Clock::now();
  std::string seen;
  bool closed = false;
  for (int i = 0; i < 60 && !closed; ++i) {
    if (!Send(fd, " ")) closed = true;
    if (!closed) closed = ClosedByServer(fd, 1s, &seen);
  }
  const auto took = Clock::now() - start;
  close(fd);
  EXPECT_TRUE(closed) << "still open after a minute of trickling";
  EXPECT_LT(took, 30s);
  if (!seen.empty()) {
    EXPECT_EQ(seen.substr(0, seen.find("\r\n")), "HTTP/1.1 408 Request Timeout");
  }
  // Nothing of it reached the handler: consent is as it was.
  auto consent = server_.Client().Get("/v2/account/training-consent", server_.Auth());
  ASSERT_TRUE(consent && consent->status == 200);
  EXPECT_EQ(nlohmann::json::parse(consent->body)["opt_in"], false);
}

// 200 connections that send nothing hold no request thread: a new client is answered.
TEST_F(HostileClients, TwoHundredIdleConnectionsDoNotLockOutANewClient) {
  server_.Start();
  std::vector<int> idle;
  for (int i = 0; i < 200; ++i) {
    const int fd = Connect(server_.port());
    ASSERT_GE(fd, 0) << "connection " << i;
    idle.push_back(fd);
  }
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(HealthStatus(server_), 200);
  // And a keyed request, through the store, on a kept-alive connection twice.
  httplib::Client c("127.0.0.1", server_.port());
  c.set_keep_alive(true);
  c.set_read_timeout(20, 0);
  for (int i = 0; i < 2; ++i) {
    auto res = c.Get("/v2/account", server_.Auth());
    ASSERT_TRUE(res) << "request " << i;
    EXPECT_EQ(res->status, 200);
  }
  for (int fd : idle) close(fd);
}

// A POST with neither Content-Length nor chunked encoding has no body (RFC 9112 §6.3): it is
// answered at once, not after the server has waited for the client to close.
TEST_F(HostileClients, PostWithoutALengthIsAnsweredAtOnce) {
  server_.Start();
  const int fd = Connect(server_.port());
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(
      Send(fd, "POST /v2/account/training-consent HTTP/1.1\r\nHost: 127.0.0.1\r\nx-api-key: " +
                   server_.key() + "\r\nContent-Type: application/json\r\n\r\n"));
  std::string seen;
  pollfd p{fd, POLLIN, 0};
  ASSERT_GT(poll(&p, 1, 20'000), 0) << "no answer in 20 s";
  char buf[4096];
  const ssize_t n = recv(fd, buf, sizeof buf, 0);
  close(fd);
  ASSERT_GT(n, 0);
  seen.assign(buf, static_cast<std::size_t>(n));
  EXPECT_EQ(seen.rfind("HTTP/1.1 4", 0), 0u) << seen;
}

// Pipelined requests on one connection are each answered, in order.
TEST_F(HostileClients, PipelinedRequestsAreEachAnswered) {
  server_.Start();
  const int fd = Connect(server_.port());
  ASSERT_GE(fd, 0);
  const std::string get = "GET /v2/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  ASSERT_TRUE(
      Send(fd, get + get + "GET /v2/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
  std::string seen;
  for (int i = 0; i < 20 && !ClosedByServer(fd, 1s, &seen);) ++i;
  close(fd);
  std::size_t answers = 0;
  for (std::size_t at = 0; (at = seen.find("HTTP/1.1 200 OK", at)) != std::string::npos; ++at)
    ++answers;
  EXPECT_EQ(answers, 3u) << seen;
}

// Wrong keys from one address: after a burst, 429 with Retry-After — even for the right key from
// that address (a lucky guess must not get through) — while another address is unaffected.
// Loopback is one address: the server trusts it as a proxy, so X-Forwarded-For names the client.
TEST_F(HostileClients, WrongKeysAreThrottledPerAddress) {
  server_.Start({"--trusted-proxy", "127.0.0.1"});
  auto c = server_.Client();
  const httplib::Headers wrong = {{"x-api-key", "bge_" + std::string(64, '0')},
                                  {"X-Forwarded-For", "203.0.113.7"}};
  int unauthorized = 0;
  std::string retry_after;
  for (int i = 0; i < 60 && retry_after.empty(); ++i) {
    auto res = c.Get("/v2/account", wrong);
    ASSERT_TRUE(res);
    if (res->status == 401) ++unauthorized;
    if (res->status == 429) {
      EXPECT_EQ(nlohmann::json::parse(res->body)["error"]["code"], "rate_limited");
      retry_after = res->get_header_value("Retry-After");
    }
  }
  ASSERT_FALSE(retry_after.empty()) << "60 wrong keys in a row were never throttled";
  EXPECT_GE(std::stoi(retry_after), 1);
  EXPECT_GE(unauthorized, 5) << "a few wrong keys are only 401s";
  httplib::Headers right_from_there = server_.Auth();
  right_from_there.emplace("X-Forwarded-For", "203.0.113.7");
  auto res = c.Get("/v2/account", right_from_there);
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 429);
  httplib::Headers right_elsewhere = server_.Auth();
  right_elsewhere.emplace("X-Forwarded-For", "198.51.100.9");
  res = c.Get("/v2/account", right_elsewhere);
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  auto other_wrong = wrong;
  other_wrong.erase("X-Forwarded-For");
  other_wrong.emplace("X-Forwarded-For", "198.51.100.9");
  res = c.Get("/v2/account", other_wrong);
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 401);
}

}  // namespace
}  // namespace bgerase::api::testing
