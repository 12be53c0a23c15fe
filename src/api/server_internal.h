// Internals of ApiServer shared by its source files: server.cpp (the route table, health, metrics,
// start and stop), removal_routes.cpp, job_runner.cpp, account_routes.cpp, web_pages.cpp and
// web_account_routes.cpp. Not part of the public interface: include api/server.h instead.
#pragma once

#include <httplib.h>

#include <chrono>
#include <cmath>
#include <condition_variable>
#include <functional>
#include <future>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "api/base64.h"
#include "api/error_catalogue.h"
#include "api/http_front.h"
#include "api/inference_queue.h"
#include "api/metrics.h"
#include "api/multipart.h"
#include "api/request_fields.h"
#include "api/server.h"
#include "api/url_fetcher.h"
#include "api/web_session.h"
#include "common/image_formats.h"
#include "common/text.h"
#include "removal/options.h"
#include "store/storage_policy.h"

namespace bgerase::api {
namespace detail {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

// What the access log and metrics need about the request being answered. httplib runs the
// pre-routing handler, the route and the logger on the same thread, one request at a time.
struct RequestContext {
  std::string request_id;
  std::string route = "unmatched";
  std::string key_prefix;
  // The caller's rate-limit bucket after this request took from it (X-RateLimit-* headers).
  struct RateState {
    int limit = 0, remaining = 0;
    long long reset_at = 0;  // Unix seconds when the bucket is full again
  };
  std::optional<RateState> rate;
  Dialect dialect = Dialect::kV2;
  Clock::time_point start;
  // Body bytes the route read (a chunked body has no Content-Length to log); nullopt: the
  // route read none itself, and the log gives the Content-Length.
  std::optional<std::uint64_t> bytes_in;
};
extern thread_local RequestContext t_ctx;

double Seconds(Clock::time_point since);
// The routes that remove backgrounds (their answers say what they charged).
bool IsRemovalRoute(std::string_view route);
// The error in the request's dialect, with its Retry-After (RetryAfterSeconds).
void SendError(httplib::Response& res, ApiError e);
void SendJson(httplib::Response& res, const json& body, int status = 200);
// The answer, or its error.
void SendResult(httplib::Response& res, const Result<json>& answer);
// Token buckets by key prefix. Thread-safe. Buckets are never dropped: there is one per API key,
// a number the operator controls.
class RateLimiter {
 public:
  explicit RateLimiter(double rate) : rate_(rate), burst_(std::max(1.0, rate)) {}

  // 0 when the request may go ahead (a token is taken), else the seconds to wait. `state`, when
  // given, receives the bucket as this request leaves it — only if a limit is set.
  int Take(const std::string& key, std::optional<RequestContext::RateState>* state = nullptr) {
    if (rate_ <= 0) return 0;
    std::lock_guard lock(mu_);
    const auto now = Clock::now();
    auto [it, fresh] = buckets_.try_emplace(key, Bucket{burst_, now});
    Bucket& b = it->second;
    if (!fresh) {
      b.tokens =
          std::min(burst_, b.tokens + rate_ * std::chrono::duration<double>(now - b.at).count());
      b.at = now;
    }
    const bool taken = b.tokens >= 1;
    if (taken) b.tokens -= 1;
    if (state) {
      const auto unix_now = std::chrono::duration_cast<std::chrono::seconds>(
                                std::chrono::system_clock::now().time_since_epoch())
                                .count();
      *state = RequestContext::RateState{
          static_cast<int>(burst_), static_cast<int>(std::floor(b.tokens)),
          unix_now + static_cast<long long>(std::ceil((burst_ - b.tokens) / rate_))};
    }
    if (taken) return 0;
    return static_cast<int>(std::ceil((1 - b.tokens) / rate_));
  }

 private:
  struct Bucket {
    double tokens;
    Clock::time_point at;
  };
  const double rate_, burst_;
  std::mutex mu_;
  std::map<std::string, Bucket> buckets_;
};

}  // namespace detail

using namespace detail;  // NOLINT: the internals' own vocabulary, inside the api namespace only

struct ApiServer::Impl {
  ServerConfig config;
  store::Store& store;
  store::StoragePolicy policy;
  HttpFront http;
  Metrics metrics;
  std::unique_ptr<InferenceQueue> queue;  // set once the model is loaded (before ready_)
  std::atomic<bool>* ready = nullptr;
  std::mutex log_mu;

  RateLimiter limiter;
  // Wrong API keys per client address: 20 at once, then one a second. An address out of them is
  // refused before its key is looked at, so a guess that happens to be right is refused too.
  web::AttemptThrottle wrong_keys{20, 1.0};
  UrlFetchOptions fetch;

  // The async-job runner (server.cpp): claims jobs from the shared store while a worker is idle.
  std::thread job_thread;
  std::mutex job_mu;
  std::condition_variable job_cv;
  bool job_stop = false;  // guarded by job_mu
  bool job_wake = false;  // a job was just accepted here; guarded by job_mu

  Impl(ServerConfig c, store::Store& s)
      : config(std::move(c)),
        store(s),
        policy(s),
        http(FrontLimitsOf(config)),
        limiter(config.rate_limit) {
    fetch.allow_private = config.allow_private_urls;
  }

  static FrontLimits FrontLimitsOf(const ServerConfig& config) {
    FrontLimits l;
    l.request_deadline = config.request_deadline;
    l.max_connections = config.max_connections;
    l.max_body_bytes = kMaxBodyBytes;
    // Enough request threads that requests beyond the inference queue reach a handler and get
    // their 503 at once; slow or idle clients hold none (the front holds them).
    l.threads = static_cast<std::size_t>(config.workers) + config.max_queue + 8;
    return l;
  }

  // Authenticates the request's x-api-key (header names are case-insensitive in httplib).
  Result<store::ApiKeyInfo> Authenticate(const httplib::Request& req) {
    const std::string key = req.get_header_value("x-api-key");
    if (key.empty()) return Status("missing_api_key", "Send your API key in the x-api-key header.");
    const std::string address = config.trusted_proxies.ClientOf(req);
    auto too_many = [](int wait) {
      return Status("rate_limited", "Too many wrong API keys from this address; retry in " +
                                        std::to_string(wait) + " s.");
    };
    if (const int wait = wrong_keys.Wait(address); wait > 0) return too_many(wait);
    auto info = store.api_keys().Authenticate(key);
    if (!info.ok()) {
      if (info.status().code() == "invalid_api_key") {
        (void)wrong_keys.Take(address);
        return Status("invalid_api_key", "The API key is unknown or revoked.");
      }
      return info.status();
    }
    t_ctx.key_prefix = info->prefix;
    if (const int wait = limiter.Take(info->prefix, &t_ctx.rate); wait > 0)
      return Status("rate_limited",
                    "Too many requests for this key; retry in " + std::to_string(wait) + " s.");
    return info;
  }

  // The three stages of a removal as requests and jobs run them: Prepare (decode) and Render
  // (composite, encode) on the caller's thread, Infer on an InferenceQueue worker. An exception in
  // any stage becomes internal_error: it must neither kill a worker nor leave a request waiting.
  template <class Stage>
  static auto Guarded(Stage&& stage) -> decltype(stage()) {
    try {
      return stage();
    } catch (const std::exception& e) {
      return Status("internal_error", e.what());
    }
  }
  Result<removal::PreparedImage> PrepareImage(std::string_view input) {
    return Guarded([&] { return queue->stages().Prepare(input); });
  }
  // Runs the model on `image` on a worker (as `options` ask: once, or twice for quality_mode best),
  // then `then` with its result on that worker. False (and `then` never runs) when the queue is
  // full.
  bool SubmitInference(removal::PreparedImage image, const removal::RemovalOptions& options,
                       std::function<void(Result<removal::InferredImage>)> then) {
    auto shared = std::make_shared<removal::PreparedImage>(std::move(image));
    return queue->TrySubmit([this, shared, options, then = std::move(then)](removal::Pipeline& p) {
      const auto start = Clock::now();
      auto inferred = Guarded([&] { return p.Infer(std::move(*shared), options); });
      metrics.RecordInference(Seconds(start));
      then(std::move(inferred));
    });
  }
  Result<removal::RemovalResult> RenderImage(Result<removal::InferredImage> inferred,
                                             const removal::RemovalOptions& options) {
    if (!inferred.ok()) return inferred.status();
    return Guarded([&] { return queue->stages().Render(std::move(inferred).value(), options); });
  }

  // A synchronous removal: decodes on this request thread, runs the model on a worker, renders
  // back here, so with one worker the model never waits for a decode or an encode (as in the CLI's
  // batches). 503 at once when the queue is full. `input` is shared, not copied: it may be 30 MB.
  Result<removal::RemovalResult> Remove(std::shared_ptr<const std::string> input,
                                        const removal::RemovalOptions& options, ApiError* error) {
    if (!ready->load()) {
      *error = {"not_ready", "", {}, 1};
      return Status("not_ready", "");
    }
    auto overloaded = [&] {
      // A client should come back after roughly one removal per waiting request and worker.
      *error = {"overloaded", "", {}, static_cast<int>(1 + queue->waiting() / queue->workers())};
      return Status("overloaded", "");
    };
    if (queue->waiting() >= queue->max_queue()) return overloaded();  // before decoding
    auto prepared = PrepareImage(*input);
    if (!prepared.ok()) {
      *error = ApiError::From(prepared.status());
      return prepared.status();
    }
    auto promise = std::make_shared<std::promise<Result<removal::InferredImage>>>();
    auto future = promise->get_future();
    const bool queued = SubmitInference(
        std::move(prepared).value(), options,
        [promise](Result<removal::InferredImage> r) { promise->set_value(std::move(r)); });
    if (!queued) return overloaded();
    auto result = RenderImage(future.get(), options);
    if (!result.ok()) *error = ApiError::From(result.status());
    return result;
  }

  // remove.bg's price of one image, in quarter credits: a quarter up to its 0.25 MP sizes
  // (preview, small, regular), one credit above.
  static std::int64_t QuarterCredits(const removal::RemovalOptions& options) {
    return options.max_pixels <= removal::kPreviewPixels ? 1 : store::kQuartersPerCredit;
  }
  // Quarter credits as remove.bg writes credits: "0.25", "1", "2.5".
  static std::string CreditsText(std::int64_t quarters);

  // A synchronous removal as both dialects answer it: run it, then let the storage policy keep
  // what it decides. A failed store is logged (never the image) and answered internal_error.
  struct Removed {
    removal::RemovalResult result;
    store::StoredUpload stored;
  };
  // `account` empty: an anonymous try-it request from the web page; nothing is stored or counted.
  // The account is charged first (QuarterCredits; "insufficient_credits" when its allowance is
  // spent, before anything is decoded or kept), and refunded when the removal fails.
  Result<Removed> RemoveAndKeep(const store::AccountId& account, std::string image,
                                const removal::RemovalOptions& options, ApiError* error) {
    // Consent counts as it was when the image arrived, not after inference.
    const store::Time received_at = store.clock().Now();
    if (!account.empty()) {
      if (Status charged = store.usage().Charge(account, QuarterCredits(options)); !charged.ok()) {
        *error = ApiError::From(charged);
        return charged;
      }
    }
    auto refund = [&] {
      if (account.empty()) return;
      if (Status s = store.usage().Refund(account, QuarterCredits(options), received_at); !s.ok())
        std::cerr << "bgerase serve: refunding credits failed: " << s.ToString() << "\n";
    };
    const auto input = std::make_shared<const std::string>(std::move(image));
    auto result = Remove(input, options, error);
    if (!result.ok()) {
      refund();
      return result.status();
    }
    if (account.empty()) return Removed{std::move(result).value(), {}};
    auto stored = Keep(account, *input, *result, options, received_at);
    if (!stored.ok()) {
      refund();
      std::cerr << "bgerase serve: " << t_ctx.request_id
                << " storing failed: " << stored.status().ToString() << "\n";
      *error = {"internal_error", "", {}, 0};
      return stored.status();
    }
    return Removed{std::move(result).value(), std::move(stored).value()};
  }

  // Asks the storage policy what to keep of this upload; it decides (store flag, consent). Counts
  // the image in the account's usage.
  // `received_at`: when the image arrived; `stored_input`: the input is kept already (an async
  // job's, received when it was stored).
  Result<store::StoredUpload> Keep(const store::AccountId& account, std::string_view input,
                                   const removal::RemovalResult& result,
                                   const removal::RemovalOptions& options, store::Time received_at,
                                   std::optional<store::ObjectInfo> stored_input = std::nullopt) {
    store::Upload upload;
    upload.owner = account;
    upload.input = store::AsBytes(input);
    upload.input_mime = SniffMime(input);  // from the bytes, never the declared type
    upload.result = store::AsBytes(result.bytes);
    upload.result_mime = result.mime;
    if (!options.on_behalf_of.empty()) upload.on_behalf_of = options.on_behalf_of;
    upload.store_requested = options.store;
    upload.stored_input = std::move(stored_input);
    upload.received_at = received_at;
    auto stored = policy.StoreUpload(upload);
    if (stored.ok()) {
      if (!stored->processing.empty())
        metrics.RecordStored("processing", stored->processing.size());
      if (stored->training) metrics.RecordStored("training", 1);
    }
    if (const Status counted = store.usage().Record(account); !counted.ok())
      std::cerr << "bgerase serve: counting usage failed: " << counted.ToString() << "\n";
    return stored;
  }

  // ---- the removal routes (removal_routes.cpp) ----
  // What every API removal route reads first: the body (whatever follows, so a refused request
  // leaves the connection clean), the caller's key, the fields. nullopt: the error is answered.
  struct KeyedRequest {
    store::ApiKeyInfo key;
    RemovalRequest request;
  };
  std::optional<KeyedRequest> ReadKeyedRequest(const httplib::Request& req, httplib::Response& res,
                                               const httplib::ContentReader& reader,
                                               const ImageKeys& image_keys);
  void HandleV2(const httplib::Request& req, httplib::Response& res,
                const httplib::ContentReader& reader, bool async = false);
  void StartJob(const store::AccountId& account, std::string bytes,
                const removal::OptionFields& fields, const removal::RemovalOptions& options,
                httplib::Response& res);
  void HandleRemoveBg(const httplib::Request& req, httplib::Response& res,
                      const httplib::ContentReader& reader);
  void RegisterRemovalRoutes();  // /v2, /v2/jobs, /v1.0/removebg

  // ---- the job runner (job_runner.cpp) ----
  void WakeJobRunner();  // a job was accepted here: look now rather than at the next tick
  void RunJobs();        // job_thread's loop until job_stop
  // Runs the store step `f` (returning Status or Result) again while it fails with
  // store_unavailable, backing off up to 2 s, until it succeeds, fails otherwise or the server
  // stops: a job outlives a database restart instead of failing or waiting out its lease.
  template <typename F>
  auto OnceStoreIsBack(F&& f) -> decltype(f());
  void RunJob(const store::Job& job);

  // ---- the route table (server.cpp) ----
  // Every route, API and web, once: method, httplib pattern, the label the access log and the
  // metrics use, and its handler. The pre-routing handler labels a request from this table, so
  // label values stay bounded whatever paths clients try, and knows from it which routes read
  // (and cap) their bodies themselves.
  using Request = httplib::Request;
  using Response = httplib::Response;
  using Reader = httplib::ContentReader;
  using KeyedHandler = std::function<void(const store::ApiKeyInfo&, const Request&, Response&)>;
  struct Route {
    std::string method, label;
    std::regex match;  // the httplib pattern it was registered with
    bool reads_body;   // its handler reads the body itself (ReadBody), chunked bodies included
  };
  std::vector<Route> routes;
  void AddRoute(const std::string& method, const std::string& pattern, const std::string& label,
                httplib::Server::Handler handler);
  void AddRoute(const std::string& method, const std::string& pattern, const std::string& label,
                httplib::Server::HandlerWithContentReader handler);
  // A route that needs an API key: answers missing_api_key, invalid_api_key or rate_limited
  // itself, and calls `handler` with the caller's key otherwise.
  void AddKeyedRoute(const std::string& method, const std::string& pattern,
                     const std::string& label, KeyedHandler handler);
  // The route `method` `path` matches, else one that matches the path under another method;
  // null for none (labelled "unmatched").
  const Route* MatchRoute(const std::string& method, const std::string& path) const;
  void RegisterRoutes();         // all of them, once, from the constructor
  void RegisterAccountRoutes();  // /v2/account*, /v1.0/account (account_routes.cpp)

  // ---- the web pages (web_pages.cpp) and the account page's endpoints (web_account_routes.cpp)
  // The signed-in customer of a request, from a live session cookie.
  struct WebUser {
    store::AccountId account;
    std::string session_token;
  };
  using WebHandler = std::function<void(const WebUser&, const Request&, Response&)>;
  // The pages' folder, throttles and page rendering (web_pages.cpp).
  struct Web;
  std::shared_ptr<Web> web;
  // The live session of the request, if any. An unknown or expired cookie is treated as none.
  std::optional<WebUser> SignedIn(const Request& req);
  // Whether a state-changing request carries the right CSRF token (X-CSRF-Token header or the
  // `form_token` field): bound to the session when signed in, else equal to the CSRF cookie,
  // which must be one this deployment signed (web::SignedOutCsrfToken).
  bool CsrfOk(const Request& req, const std::optional<WebUser>& user,
              const std::string& form_token);
  // The store's form key (SessionStore::FormKey), read on first use; empty while it cannot be.
  std::string FormKey();
  std::mutex form_key_mu;
  std::string form_key;  // guarded by form_key_mu
  // A route of the account page's JSON API: answers not_signed_in itself, and csrf_failed for a
  // state-changing method without the session's CSRF header; calls `handler` otherwise.
  void AddWebAccountRoute(const std::string& method, const std::string& pattern,
                          const std::string& label, WebHandler handler);
  void RegisterWebPages();
  void RegisterWebAccountRoutes();

  void Log(const httplib::Request& req, const httplib::Response& res);
};

}  // namespace bgerase::api
