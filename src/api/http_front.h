// HttpFront: cpp-httplib's server with slow clients kept off its threads. One epoll thread holds
// every connection while it is idle or still sending its request; only a request whose headers
// and body (by Content-Length or to its last chunk) have arrived is handed to a handler thread.
// A request that is not complete by its deadline is answered 408 and closed, however slowly it
// trickles. The front answers "100 Continue" itself.
#pragma once

#include <httplib.h>

#include <chrono>
#include <cstddef>
#include <memory>

namespace bgerase::api {

struct FrontLimits {
  // From a request's first byte to its last (headers and body). Past it: 408, closed.
  std::chrono::milliseconds request_deadline{std::chrono::seconds(120)};
  // The headers alone (a real client sends them in one packet); capped by request_deadline.
  std::chrono::milliseconds header_deadline{std::chrono::seconds(10)};
  // How long a kept-alive connection may sit between requests.
  std::chrono::milliseconds idle_timeout{std::chrono::seconds(5)};
  // Header block cap: past it the request goes to httplib, which answers 400/414.
  std::size_t max_header_bytes = 64 * 1024;
  // Request bodies buffered by the front at once, over all connections. A body that would pass
  // it is read by its handler thread instead (still under its deadline).
  std::size_t max_buffered_bytes = 256u << 20;
  // Connections held at once; a new one past it closes the one held longest that is not being
  // answered (so a flood of idle sockets cannot lock new clients out). Capped below the open-file
  // limit, whose soft value the front raises to its hard one.
  std::size_t max_connections = 4096;
  // Bodies above this are not buffered: the request goes to httplib, which answers 413 (at once
  // for a Content-Length, when its count passes the cap for a chunked body).
  std::size_t max_body_bytes = 64u << 20;
  // Handler threads (requests being answered at once).
  std::size_t threads = 16;
};

class HttpFront : public httplib::Server {
 public:
  explicit HttpFront(FrontLimits limits = {});
  ~HttpFront() override;

  // listen_after_bind() with a listen backlog of 1024 instead of the 5 the library was built
  // with (a burst of connections would overflow it, and a dropped SYN costs the client 1 s).
  // Returns when stop() is called.
  bool Listen();

  // After Listen() returns (stop() was called): answers the requests being answered
  // (their handlers run to the end), then closes every connection. Idempotent.
  void Drain();

 private:
  // Called by httplib's accept loop for each accepted socket (the task queue runs it inline):
  // the socket goes to the front's epoll thread instead of a handler thread.
  bool process_and_close_socket(socket_t sock) override;

  struct Front;
  std::unique_ptr<Front> front_;
};

}  // namespace bgerase::api
