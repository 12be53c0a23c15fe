// Hostile clients against a real `bgerase serve` on loopback (docs/security.md): sockets that
// send part of a request and stop, trickle it a byte a second, or sit idle by the hundred must not
// keep other clients from their answers; wrong API keys at a high rate are throttled per address.
// Deadlines here are generous (the machine may be busy): they prove "closed" and "answered", not
// speed.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/statvfs.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "loopback.h"
#include "test_server.h"

namespace bgerase::api::testing {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

int Connect(int port) {
  return ConnectLoopback(port);
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

// Sends `piece(i)` a second at a time (i = 0, 1, ... up to `pieces`) until the server closes the
// socket, then checks that it did, well within 30 s (the tests' deadline is 3 s), and with a 408
// when it answered anything. Closes `fd`.
template <typename Piece>
void ExpectCutOffWhileTrickling(int fd, int pieces, Piece piece) {
  const auto start = Clock::now();
  std::string seen;
  bool closed = false;
  for (int i = 0; i < pieces && !closed; ++i) {
    if (!Send(fd, piece(i))) closed = true;  // reset: closed
    if (!closed) closed = ClosedByServer(fd, 1s, &seen);
  }
  const auto took = Clock::now() - start;
  close(fd);
  EXPECT_TRUE(closed) << "still open after a minute of trickling";
  EXPECT_LT(took, 30s) << "cut off, but long after the 3 s deadline";
  if (!seen.empty()) {
    EXPECT_EQ(seen.substr(0, seen.find("\r\n")), "HTTP/1.1 408 Request Timeout");
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
  const std::string trickle =
      "X-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
  ExpectCutOffWhileTrickling(fd, static_cast<int>(trickle.size()),
                             [&](int i) { return trickle.substr(i, 1); });
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
  ExpectCutOffWhileTrickling(fd, 60, [](int) { return std::string(" "); });
  // Nothing of it reached the handler: consent is as it was.
  auto consent = server_.Client().Get("/v2/account/training-consent", server_.Auth());
  ASSERT_TRUE(consent && consent->status == 200);
  EXPECT_EQ(nlohmann::json::parse(consent->body)["opt_in"], false);
}

// A chunked body trickled a chunk a second is walked by the front and cut off the same way.
TEST_F(HostileClients, ChunkedBodyTricklerIsClosedAtTheDeadline) {
  server_.Start({"--request-deadline", "3"});
  const int fd = Connect(server_.port());
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(Send(fd, "POST /v2 HTTP/1.1\r\nHost: 127.0.0.1\r\nx-api-key: " + server_.key() +
                           "\r\nContent-Type: multipart/form-data; boundary=b\r\n"
                           "Transfer-Encoding: chunked\r\n\r\n"));
  ExpectCutOffWhileTrickling(fd, 60, [](int) { return std::string("1\r\n-\r\n"); });
  EXPECT_EQ(HealthStatus(server_), 200);
}

// A client that waits for "100 Continue" before its body gets exactly one, then its answer.
TEST_F(HostileClients, ExpectContinueGetsOneInterimAnswerThenTheAnswer) {
  server_.Start();
  const int fd = Connect(server_.port());
  ASSERT_GE(fd, 0);
  const std::string body = R"({"opt_in": false})";
  ASSERT_TRUE(Send(fd,
                   "PUT /v2/account/training-consent HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                   "x-api-key: " +
                       server_.key() +
                       "\r\nContent-Type: application/json\r\nExpect: 100-continue\r\n"
                       "Content-Length: " +
                       std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n"));
  std::string seen;
  pollfd p{fd, POLLIN, 0};
  ASSERT_GT(poll(&p, 1, 20'000), 0) << "no 100 Continue";
  char buf[4096];
  ssize_t n = recv(fd, buf, sizeof buf, 0);
  ASSERT_GT(n, 0);
  seen.assign(buf, static_cast<std::size_t>(n));
  EXPECT_EQ(seen, "HTTP/1.1 100 Continue\r\n\r\n");
  ASSERT_TRUE(Send(fd, body));
  seen.clear();
  for (int i = 0; i < 20 && !ClosedByServer(fd, 1s, &seen);) ++i;
  close(fd);
  EXPECT_EQ(seen.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << seen;
  EXPECT_EQ(seen.find("100 Continue"), std::string::npos) << seen;
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
  ASSERT_TRUE(Send(fd,
                   "POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                   "Content-Type: application/x-www-form-urlencoded\r\n\r\n"));
  std::string seen;
  pollfd p{fd, POLLIN, 0};
  ASSERT_GT(poll(&p, 1, 20'000), 0) << "no answer in 20 s";
  char buf[4096];
  const ssize_t n = recv(fd, buf, sizeof buf, 0);
  close(fd);
  ASSERT_GT(n, 0);
  seen.assign(buf, static_cast<std::size_t>(n));
  // Refused (no CSRF token, no fields), but answered: the handler ran on an empty body.
  EXPECT_EQ(seen.rfind("HTTP/1.1 4", 0), 0u) << seen;
  EXPECT_EQ(seen.find("HTTP/1.1 404"), std::string::npos) << seen;
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

// Free bytes on the file system holding `p`.
std::uint64_t FreeBytes(const fs::path& p) {
  struct statvfs v {};
  statvfs(p.c_str(), &v);
  return static_cast<std::uint64_t>(v.f_bavail) * v.f_frsize;
}

// Files under `dir` (recursively) whose name ends in `suffix`; all of them when it is empty.
std::size_t FilesEndingIn(const fs::path& dir, const std::string& suffix) {
  std::size_t n = 0;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file() && e.path().filename().string().ends_with(suffix)) ++n;
  return n;
}

// The disk fills during a stored request: the input fits, the result does not. The answer is
// internal_error, nothing of the upload stays (no object, no temporary file), and once there is
// room again the same request is stored. Needs a tmpfs as --data, so root (skipped otherwise).
TEST_F(HostileClients, DiskFullDuringAStoredRequestLeavesNothingBehind) {
  server_.Start();
  server_.Stop();
  const fs::path data = server_.data();
  const fs::path saved = data.string() + ".saved";
  fs::rename(data, saved);
  fs::create_directories(data);
  if (mount("tmpfs", data.c_str(), "tmpfs", 0, "size=16m,mode=0700") != 0) {
    fs::remove_all(data);
    fs::rename(saved, data);
    GTEST_SKIP() << "cannot mount a tmpfs here (needs root): " << std::strerror(errno);
  }
  struct Unmount {
    fs::path at;
    ~Unmount() { umount2(at.c_str(), MNT_DETACH); }
  } unmount{data};
  fs::copy(saved, data, fs::copy_options::recursive);
  server_.Start();
  auto c = server_.Client();
  const std::string photo = ReadAll("/usr/lib/python3/dist-packages/skimage/data/astronaut.png");
  const auto form = [&](const char* store) {
    return httplib::MultipartFormDataItems{{"image_file", photo, "photo.png", "image/png"},
                                           {"store", store, "", ""}};
  };
  auto plain = c.Post("/v2", server_.Auth(), form("false"));
  ASSERT_TRUE(plain && plain->status == 200);
  const std::uint64_t result_bytes = plain->body.size();

  // Fill the disk, then leave room for the input and half the result.
  const fs::path filler = data / "filler";
  {
    std::ofstream f(filler, std::ios::binary);
    const std::string block(1 << 16, 'x');
    while (f.write(block.data(), block.size())) {
    }
  }
  const std::uint64_t room = photo.size() + result_bytes / 2;
  fs::resize_file(filler, fs::file_size(filler) - std::min(fs::file_size(filler), room));
  ASSERT_LT(FreeBytes(data), photo.size() + result_bytes);

  auto full = c.Post("/v2", server_.Auth(), form("true"));
  ASSERT_TRUE(full) << "no answer while the disk was full";
  EXPECT_EQ(full->status, 500) << full->body;
  EXPECT_EQ(nlohmann::json::parse(full->body)["error"]["code"], "internal_error");
  EXPECT_EQ(FilesEndingIn(data, ".tmp"), 0u) << "a temporary file stayed behind";
  fs::remove(filler);
  auto listed = c.Get("/v2/account/data", server_.Auth());
  ASSERT_TRUE(listed && listed->status == 200);
  EXPECT_EQ(nlohmann::json::parse(listed->body)["items"].size(), 0u)
      << "half an upload stayed: " << listed->body;

  // The server kept serving, and with room again the same request is stored.
  auto stored = c.Post("/v2", server_.Auth(), form("true"));
  ASSERT_TRUE(stored);
  EXPECT_EQ(stored->status, 200);
  listed = c.Get("/v2/account/data", server_.Auth());
  ASSERT_TRUE(listed && listed->status == 200);
  EXPECT_EQ(nlohmann::json::parse(listed->body)["items"].size(), 2u) << listed->body;
  server_.Stop();
}

}  // namespace
}  // namespace bgerase::api::testing
