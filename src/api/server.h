// ApiServer: the HTTP API of `bgerase serve` (docs/reference/api.md) on cpp-httplib. It owns the
// routes of both dialects, auth, request ids, the inference queue, metrics and the access log; what
// is stored is asked of store::StoragePolicy, never decided here. docs/reference/api.md is the
// reference.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "api/client_address.h"
#include "common/image_formats.h"
#include "common/status.h"
#include "removal/pipeline.h"
#include "store/store.h"

namespace bgerase::api {

// Bodies above this are refused with 413 while reading. It leaves room for a 30 MB image sent as
// base64 (4/3 larger); the image itself is capped at 30 MB by the decoder (payload_too_large).
inline constexpr std::size_t kMaxBodyBytes = kMaxImageBytes / 3 * 4 + 1'000'000;

// The consent policy version that PUT /v2/account/training-consent grants under.
inline constexpr char kTrainingPolicyVersion[] = "v1";

struct ServerConfig {
  std::string host = "127.0.0.1";
  int port = 8080;                   // 0: any free port (see ApiServer::port)
  int workers = 1;                   // inference workers, each with its own loaded model
  removal::PipelineConfig pipeline;  // threads = inference threads per worker
  std::size_t max_queue = 8;         // requests that may wait for a worker; more get 503
  // Per-key token bucket: this many requests per second on average, bursts of up to
  // max(1, rate) at once; beyond it 429 rate_limited with Retry-After. 0: no limit.
  double rate_limit = 0;
  // image_url may name loopback/private/link-local hosts (tests, trusted networks only).
  bool allow_private_urls = false;
  int write_timeout_s = 30;
  // From a request's first byte to its last (headers and body; the headers alone get at most
  // 10 s of it): a client still sending past it is answered 408 and closed. Until its request is
  // complete a connection is held by one epoll thread, not a request thread (api/http_front.h).
  std::chrono::seconds request_deadline{120};
  // Connections held at once (idle or sending); past it the longest-held idle one is closed.
  std::size_t max_connections = 4096;
  // Whether this replica runs async jobs (its own and other replicas'); off, it only accepts
  // them. A claimed job whose replica dies is taken over after `job_lease`.
  bool run_jobs = true;
  std::chrono::seconds job_lease{300};
  // The operator's load balancers / reverse proxies: from these peers, X-Forwarded-For names the
  // client (for per-address throttles). Empty: the TCP peer is the client.
  TrustedProxies trusted_proxies;
  bool access_log = true;  // one JSON line per request on stderr
  // The web pages' folder. Empty: DefaultWebDir().
  std::string web_dir;
};

// Where the web pages are when --web-dir is not given: PREFIX/share/bgerase/web for an installed
// binary (common/install_layout.h), else the source tree's web/ the build was made from.
std::string DefaultWebDir();

class ApiServer {
 public:
  // `store` must outlive the server and should be opened (start-up purge done) before Bind.
  ApiServer(ServerConfig config, store::Store& store);
  ~ApiServer();

  // Binds the listening socket. Error "bind_failed".
  Status Bind();
  // The bound port (after Bind).
  int port() const { return port_; }

  // Loads the model on `workers` pipelines in the background while answering (health says 503
  // and /v2 "not_ready" until loaded), and serves until Stop. Returns an error if the model
  // could not be loaded (the server stops then) — otherwise OK after a Stop, once every accepted
  // request has been answered.
  Status Run();

  // Stops accepting connections; requests in flight finish. Safe from any thread, any time.
  void Stop();

  bool ready() const { return ready_.load(); }

  // Every route the server answers, API and web, as registered (for docs and tests): the method
  // and the label the access log and /metrics use ("/v2/jobs/{id}"; pages share "/web/page").
  struct RouteInfo {
    std::string method, label;
  };
  std::vector<RouteInfo> Routes() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  int port_ = 0;
  std::atomic<bool> ready_{false};
};

}  // namespace bgerase::api
