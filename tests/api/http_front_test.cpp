// HttpFront in process, with limits small enough to reach: past max_connections the connection
// held longest is closed for the newcomer, who is answered.
#include "api/http_front.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <thread>
#include <vector>

#include "loopback.h"

namespace bgerase::api {
namespace {

using namespace std::chrono_literals;

int Connect(int port) {
  return testing::ConnectLoopback(port);
}

// Whether the peer closed `fd` within `wait`.
bool Closed(int fd, std::chrono::milliseconds wait) {
  pollfd p{fd, POLLIN, 0};
  if (poll(&p, 1, static_cast<int>(wait.count())) <= 0) return false;
  char c;
  return recv(fd, &c, 1, MSG_DONTWAIT) <= 0;
}

TEST(HttpFront, PastMaxConnectionsTheLongestHeldIsClosedForANewClient) {
  FrontLimits limits;
  limits.max_connections = 8;
  limits.idle_timeout = 60s;  // so that only eviction can close the idle ones here
  limits.threads = 2;
  HttpFront server(limits);
  server.Get("/hello", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("hi", "text/plain");
  });
  const int port = server.bind_to_any_port("127.0.0.1");
  ASSERT_GT(port, 0);
  std::thread listener([&] { server.Listen(); });
  for (int i = 0; i < 200 && !server.is_running(); ++i) std::this_thread::sleep_for(10ms);

  std::vector<int> idle;
  for (int i = 0; i < 8; ++i) {
    idle.push_back(Connect(port));
    ASSERT_GE(idle.back(), 0);
    std::this_thread::sleep_for(20ms);  // a clear order of arrival
  }
  httplib::Client client("127.0.0.1", port);
  client.set_read_timeout(10, 0);
  auto res = client.Get("/hello");
  ASSERT_TRUE(res) << "the newcomer was not answered";
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->body, "hi");
  EXPECT_TRUE(Closed(idle[0], 5s)) << "the longest-held connection is still open";
  EXPECT_FALSE(Closed(idle.back(), 200ms)) << "a newer idle connection was closed too";

  server.stop();
  listener.join();
  server.Drain();
  for (int fd : idle) close(fd);
}

}  // namespace
}  // namespace bgerase::api
