// HttpFront: the epoll thread that holds connections until their request is complete, and the
// Stream that hands a complete (or, for a body the front will not buffer, begun) request to
// httplib's request parser on a handler thread, with the request's deadline on every read.
#include "api/http_front.h"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "common/text.h"

namespace bgerase::api {
namespace {

using Clock = std::chrono::steady_clock;
constexpr std::size_t kNoLimit = static_cast<std::size_t>(-1);

// httplib's accept loop hands each socket to the task queue; this one runs the hand-over
// (HttpFront::process_and_close_socket, which only registers the socket) right there.
class InlineQueue final : public httplib::TaskQueue {
 public:
  void enqueue(std::function<void()> fn) override { fn(); }
  void shutdown() override {}
};

// One client connection while the front holds it or a handler answers it.
struct Conn {
  int fd = -1;
  std::string buf;       // received and not yet consumed, from the start of the current request
  bool reading = false;  // a request has begun (its first byte arrived)
  bool peer_closed = false;
  bool malformed = false;             // no header block within max_header_bytes
  Clock::time_point since;            // idle since, or the current request's first byte
  std::size_t header_end = kNoLimit;  // offset just past the header block, once seen
  std::size_t scanned = 0;            // bytes searched for the header block's end so far
  std::size_t need = kNoLimit;        // the request's length, when the front knows it
  bool chunked = false;               // the body is chunked; the front walks its chunks
  std::size_t chunk_at = 0;           // offset of the next chunk's size line
  std::size_t body_bytes = 0;         // chunk data walked so far
  std::size_t served = 0;             // requests answered on this connection

  void NextRequest(Clock::time_point now) {
    reading = !buf.empty();
    since = now;
    header_end = need = kNoLimit;
    scanned = 0;
    chunked = false;
    chunk_at = body_bytes = 0;
  }
};

void Close(int fd) {
  ::shutdown(fd, SHUT_RDWR);
  ::close(fd);
}

bool WaitFor(int fd, short events, int timeout_ms) {
  pollfd p{fd, events, 0};
  int rc;
  do rc = ::poll(&p, 1, timeout_ms);
  while (rc < 0 && errno == EINTR);
  return rc > 0;
}

int MillisUntil(Clock::time_point t) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t - Clock::now()).count();
  return static_cast<int>(std::clamp<long long>(ms, 0, 1'000'000));
}

void NameOf(int fd, bool peer, std::string& ip, int& port) {
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  const int rc = peer ? ::getpeername(fd, reinterpret_cast<sockaddr*>(&addr), &len)
                      : ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  if (rc != 0) return;
  char host[NI_MAXHOST], serv[NI_MAXSERV];
  if (::getnameinfo(reinterpret_cast<sockaddr*>(&addr), len, host, sizeof host, serv, sizeof serv,
                    NI_NUMERICHOST | NI_NUMERICSERV) == 0) {
    ip = host;
    port = std::atoi(serv);
  }
}

// A request as httplib's parser reads it: first what the front buffered, then (only for bodies
// the front did not wait for) the socket, each wait cut to what is left of the deadline. Ends
// (reads return 0) where the request ends when its length is known, so a body-less POST is not
// read until the client gives up, and a pipelined next request stays for the next turn.
class FrontStream final : public httplib::Stream {
 public:
  FrontStream(Conn& c, Clock::time_point deadline, int write_timeout_ms)
      : c_(c), deadline_(deadline), write_timeout_ms_(write_timeout_ms) {}

  bool is_readable() const override {
    return pos_ < c_.buf.size() || WaitFor(c_.fd, POLLIN, MillisUntil(deadline_));
  }
  bool is_writable() const override { return WaitFor(c_.fd, POLLOUT, write_timeout_ms_); }

  ssize_t read(char* ptr, std::size_t size) override {
    if (c_.need != kNoLimit) {
      if (pos_ >= c_.need) return 0;
      size = std::min(size, c_.need - pos_);
    }
    while (pos_ >= c_.buf.size()) {
      if (!WaitFor(c_.fd, POLLIN, MillisUntil(deadline_))) return -1;  // past the deadline
      char chunk[16384];
      const ssize_t n = ::recv(c_.fd, chunk, sizeof chunk, 0);
      if (n == 0) return 0;
      if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) continue;
        return -1;
      }
      c_.buf.append(chunk, static_cast<std::size_t>(n));
    }
    const std::size_t n = std::min(size, c_.buf.size() - pos_);
    std::copy_n(c_.buf.data() + pos_, n, ptr);
    pos_ += n;
    return static_cast<ssize_t>(n);
  }

  ssize_t write(const char* ptr, std::size_t size) override {
    std::size_t done = 0;
    while (done < size) {
      const ssize_t n = ::send(c_.fd, ptr + done, size - done, MSG_NOSIGNAL);
      if (n > 0) {
        done += static_cast<std::size_t>(n);
      } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        if (!WaitFor(c_.fd, POLLOUT, write_timeout_ms_)) return -1;
      } else {
        return -1;
      }
    }
    return static_cast<ssize_t>(done);
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    NameOf(c_.fd, true, ip, port);
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    NameOf(c_.fd, false, ip, port);
  }
  socket_t socket() const override { return c_.fd; }

  // Bytes of the connection's buffer the parser took.
  std::size_t consumed() const { return pos_; }

 private:
  Conn& c_;
  std::size_t pos_ = 0;
  const Clock::time_point deadline_;
  const int write_timeout_ms_;
};

}  // namespace

struct HttpFront::Front {
  HttpFront& server;
  const FrontLimits limits;
  const int epfd;
  const int wake;  // eventfd: Drain wakes the loop
  httplib::ThreadPool handlers;

  std::mutex mu;
  std::condition_variable idle_cv;  // in_flight reached 0
  // Held connections by the order they came to the front (the oldest is evicted first).
  std::map<std::uint64_t, std::shared_ptr<Conn>> held;  // guarded by mu
  std::uint64_t next_id = 1;                            // guarded by mu
  std::size_t buffered = 0;   // bytes in held connections' buffers; guarded by mu
  std::size_t in_flight = 0;  // connections a handler has; guarded by mu
  bool stopping = false;      // guarded by mu
  bool drained = false;       // guarded by mu
  std::thread loop;

  Front(HttpFront& s, FrontLimits l)
      : server(s),
        limits(l),
        epfd(::epoll_create1(EPOLL_CLOEXEC)),
        wake(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)),
        handlers(std::max<std::size_t>(1, l.threads)) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = 0;
    ::epoll_ctl(epfd, EPOLL_CTL_ADD, wake, &ev);
    loop = std::thread([this] { Loop(); });
  }

  ~Front() {
    ::close(epfd);
    ::close(wake);
  }

  // Holds `c` (its socket non-blocking) until its request is complete. Under mu.
  void HoldLocked(std::shared_ptr<Conn> c) {
    if (stopping) {
      Close(c->fd);
      return;
    }
    while (held.size() >= limits.max_connections && !held.empty()) DropLocked(held.begin());
    const std::uint64_t id = next_id++;
    buffered += c->buf.size();
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP;
    ev.data.u64 = id;
    ::epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev);
    auto it = held.emplace(id, std::move(c)).first;
    if (it->second->reading) EvaluateLocked(it);  // a pipelined request may be complete already
  }

  // Closes a held connection, after a 408 when it was part-way through a request.
  void DropLocked(std::map<std::uint64_t, std::shared_ptr<Conn>>::iterator it,
                  bool timed_out = false) {
    Conn& c = *it->second;
    if (timed_out) {
      static constexpr std::string_view k408 =
          "HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
      (void)::send(c.fd, k408.data(), k408.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    }
    ::epoll_ctl(epfd, EPOLL_CTL_DEL, c.fd, nullptr);
    buffered -= c.buf.size();
    Close(c.fd);
    held.erase(it);
  }

  // Hands a held connection to a handler thread.
  void DispatchLocked(std::map<std::uint64_t, std::shared_ptr<Conn>>::iterator it) {
    std::shared_ptr<Conn> c = std::move(it->second);
    ::epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, nullptr);
    buffered -= c->buf.size();
    held.erase(it);
    ++in_flight;
    handlers.enqueue([this, c] { Serve(c); });
  }

  // Finds where the current request's header block ends and how long the request is; hands the
  // connection over when the front has all it will wait for.
  void EvaluateLocked(std::map<std::uint64_t, std::shared_ptr<Conn>>::iterator it) {
    Conn& c = *it->second;
    if (c.header_end == kNoLimit) {
      const std::size_t from = c.scanned >= 3 ? c.scanned - 3 : 0;
      const std::size_t end = c.buf.find("\r\n\r\n", from);
      c.scanned = c.buf.size();
      if (end == std::string::npos) {
        if (c.buf.size() > limits.max_header_bytes) {
          c.malformed = true;  // httplib answers it (400/414), then the connection closes
          DispatchLocked(it);
        }
        return;
      }
      c.header_end = end + 4;
      std::size_t length = 0, expect_at = kNoLimit;
      bool has_length = false;
      std::string_view block(c.buf.data(), end);
      for (std::size_t at = block.find("\r\n"); at != std::string_view::npos;) {
        const std::size_t next = block.find("\r\n", at + 2);
        std::string_view line = block.substr(
            at + 2, next == std::string_view::npos ? std::string_view::npos : next - at - 2);
        at = next;
        const std::size_t colon = line.find(':');
        if (colon == std::string_view::npos) continue;
        const std::string name = Lower(line.substr(0, colon));
        const std::string value = Lower(line.substr(colon + 1));
        if (name == "transfer-encoding" && value.find("chunked") != std::string::npos)
          c.chunked = true;
        if (name == "expect" && value.find("100-continue") != std::string::npos)
          expect_at = static_cast<std::size_t>(line.data() - c.buf.data()) + colon + 1 +
                      value.find("100-continue");
        if (name == "content-length" && !has_length) {  // httplib reads the first one too
          has_length = true;
          length = std::strtoull(value.c_str(), nullptr, 10);
        }
      }
      if (!c.chunked) c.need = c.header_end + (has_length ? length : 0);
      // An oversized body is refused (413) before it is read: a handler has it at once.
      if (!c.chunked && length > limits.max_body_bytes) return DispatchLocked(it);
      if (expect_at != kNoLimit) {
        // The client waits for "100 Continue" before its body: the front says it, and renames
        // the expectation (same length) so that httplib does not say it again.
        static constexpr std::string_view k100 = "HTTP/1.1 100 Continue\r\n\r\n";
        (void)::send(c.fd, k100.data(), k100.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        c.buf.replace(expect_at, 12, "100-answered");
      }
      c.chunk_at = c.header_end;
    }
    if (c.chunked && c.need == kNoLimit && !WalkChunks(c)) return DispatchLocked(it);
    if (c.need == kNoLimit) return;  // more chunks to come
    if (c.buf.size() >= c.need) return DispatchLocked(it);
    if (buffered + (c.need - c.buf.size()) > limits.max_buffered_bytes) DispatchLocked(it);
  }

  // Walks the chunks received so far; sets `need` at the last one. False when the front should
  // stop waiting and let httplib read the rest (a malformed chunk, which it answers 400, a body
  // over the cap, which it answers 413, or a chunk that would pass the buffer budget).
  bool WalkChunks(Conn& c) {
    for (;;) {
      const std::size_t eol = c.buf.find("\r\n", c.chunk_at);
      if (eol == std::string::npos) return c.buf.size() - c.chunk_at <= 1024;
      const char* digits = c.buf.c_str() + c.chunk_at;
      char* after = nullptr;
      const unsigned long long size = std::strtoull(digits, &after, 16);
      if (after == digits) return false;
      if (size == 0) {  // the last chunk, then the empty line (httplib takes no trailers)
        c.need = eol + 4;
        return true;
      }
      if (size > limits.max_body_bytes - c.body_bytes) return false;  // past the cap
      c.body_bytes += size;
      const std::size_t data_end = eol + 2 + size + 2;
      if (c.buf.size() < data_end)
        return buffered + (data_end - c.buf.size()) <= limits.max_buffered_bytes;
      if (c.buf.compare(data_end - 2, 2, "\r\n") != 0) return false;
      c.chunk_at = data_end;
    }
  }

  void ReadLocked(std::map<std::uint64_t, std::shared_ptr<Conn>>::iterator it) {
    Conn& c = *it->second;
    char chunk[16384];
    for (int rounds = 0; rounds < 64; ++rounds) {
      const ssize_t n = ::recv(c.fd, chunk, sizeof chunk, MSG_DONTWAIT);
      if (n > 0) {
        if (!c.reading) {
          c.reading = true;
          c.since = Clock::now();
        }
        c.buf.append(chunk, static_cast<std::size_t>(n));
        buffered += static_cast<std::size_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      c.peer_closed = true;  // EOF or a reset: answer what came in full, if anything
      break;
    }
    const std::uint64_t id = it->first;
    const bool peer_closed = c.peer_closed;
    if (c.reading) EvaluateLocked(it);  // may hand the connection over (and erase `it`)
    if (peer_closed) {
      auto still = held.find(id);
      if (still != held.end()) DropLocked(still);
    }
  }

  void ExpireLocked(Clock::time_point now) {
    for (auto it = held.begin(); it != held.end();) {
      auto current = it++;
      const Conn& c = *current->second;
      if (!c.reading) {
        if (now - c.since > limits.idle_timeout) DropLocked(current);
        continue;
      }
      const auto deadline = c.since + (c.header_end == kNoLimit ? std::min(limits.header_deadline,
                                                                           limits.request_deadline)
                                                                : limits.request_deadline);
      if (now > deadline) DropLocked(current, /*timed_out=*/true);
    }
  }

  void Loop() {
    epoll_event events[128];
    for (;;) {
      const int n = ::epoll_wait(epfd, events, 128, 100);
      std::lock_guard lock(mu);
      if (drained) return;
      for (int i = 0; i < n; ++i) {
        if (events[i].data.u64 == 0) continue;  // the wake-up
        auto it = held.find(events[i].data.u64);
        if (it != held.end()) ReadLocked(it);
      }
      ExpireLocked(Clock::now());
    }
  }

  // On a handler thread: httplib parses and answers the request; then the connection goes back
  // to the front for the next request, or is closed.
  void Serve(const std::shared_ptr<Conn>& c) {
    const auto deadline = c->since + limits.request_deadline;
    const int write_timeout_ms =
        static_cast<int>(server.write_timeout_sec_ * 1000 + server.write_timeout_usec_ / 1000);
    bool last;
    {
      std::lock_guard lock(mu);
      last = stopping || c->peer_closed || c->malformed ||
             c->served + 1 >= server.keep_alive_max_count_;
    }
    bool closed = false;
    bool ok;
    std::size_t consumed;
    {
      FrontStream stream(*c, deadline, write_timeout_ms);
      ok = server.process_request(stream, last, closed, nullptr);
      consumed = stream.consumed();
    }
    ++c->served;
    // A request the parser stopped short of (a refused body, a GET with a body) leaves bytes the
    // next request cannot be told from: close rather than guess.
    const bool whole = c->need == kNoLimit || consumed == c->need;
    std::lock_guard lock(mu);
    if (ok && !closed && !last && whole) {
      c->buf.erase(0, consumed);
      c->NextRequest(Clock::now());
      HoldLocked(c);
    } else {
      Close(c->fd);
    }
    if (--in_flight == 0) idle_cv.notify_all();
  }

  void Drain() {
    std::unique_lock lock(mu);
    if (drained) return;
    stopping = true;
    while (!held.empty()) DropLocked(held.begin());
    idle_cv.wait(lock, [&] { return in_flight == 0; });
    drained = true;
    lock.unlock();
    const std::uint64_t one = 1;
    (void)!::write(wake, &one, sizeof one);
    loop.join();
    handlers.shutdown();
  }
};

namespace {

// The connections the process can hold: the open-file limit (its soft value raised to the hard
// one) less room for the database, blobs, the model and the listening socket.
FrontLimits WithinFileLimit(FrontLimits limits) {
  rlimit files{};
  if (::getrlimit(RLIMIT_NOFILE, &files) != 0) return limits;
  if (files.rlim_cur < files.rlim_max) {
    files.rlim_cur = files.rlim_max;
    (void)::setrlimit(RLIMIT_NOFILE, &files);
    (void)::getrlimit(RLIMIT_NOFILE, &files);
  }
  constexpr rlim_t kReserved = 256;
  if (files.rlim_cur != RLIM_INFINITY)
    limits.max_connections = std::min<std::size_t>(
        limits.max_connections,
        files.rlim_cur > 2 * kReserved ? files.rlim_cur - kReserved : files.rlim_cur / 2);
  return limits;
}

}  // namespace

HttpFront::HttpFront(FrontLimits limits)
    : front_(std::make_unique<Front>(*this, WithinFileLimit(limits))) {
  new_task_queue = [] { return new InlineQueue; };
  set_keep_alive_timeout(std::max<time_t>(
      1, std::chrono::duration_cast<std::chrono::seconds>(limits.idle_timeout).count()));
}

HttpFront::~HttpFront() {
  Drain();
}

bool HttpFront::Listen() {
  if (svr_sock_ != INVALID_SOCKET) ::listen(svr_sock_, 1024);
  return listen_after_bind();
}

void HttpFront::Drain() {
  front_->Drain();
}

bool HttpFront::process_and_close_socket(socket_t sock) {
  ::fcntl(sock, F_SETFL, ::fcntl(sock, F_GETFL) | O_NONBLOCK);
  auto c = std::make_shared<Conn>();
  c->fd = sock;
  c->since = Clock::now();
  std::lock_guard lock(front_->mu);
  front_->HoldLocked(std::move(c));
  return true;
}

}  // namespace bgerase::api
