// ApiServer: routes, auth, limits and the access log. Each request runs on an httplib thread,
// which decodes and renders its image; only inference runs on an InferenceQueue worker.
#include "api/server.h"

#include <httplib.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <future>
#include <iostream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <sstream>
#include <vector>

#include "api/account_answers.h"
#include "api/server_internal.h"
#include "api/web_session.h"
#include "imaging/imaging.h"
#include "removal/model_registry.h"
#include "store/storage_policy.h"
#include "store/zip_writer.h"

namespace bgerase::api {
namespace detail {

thread_local RequestContext t_ctx;

std::string NewRequestId() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  char buf[24];
  std::snprintf(buf, sizeof buf, "req_%016llx", static_cast<unsigned long long>(rng()));
  return buf;
}

Dialect DialectOf(const std::string& path) {
  return path.rfind("/v1.0/", 0) == 0 ? Dialect::kRemoveBg : Dialect::kV2;
}

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

void SendError(httplib::Response& res, ApiError e) {
  res.status = HttpStatus(e);
  if (const int s = RetryAfterSeconds(e); s > 0) res.set_header("Retry-After", std::to_string(s));
  // Nothing is charged for a refusal (a charge made before a failure is refunded).
  if (t_ctx.dialect == Dialect::kRemoveBg || IsRemovalRoute(t_ctx.route))
    res.set_header("X-Credits-Charged", "0");
  res.set_content(RenderError(e, t_ctx.dialect, t_ctx.request_id), "application/json");
}

bool IsRemovalRoute(std::string_view route) {
  return route == "/v2" || route == "/v2/jobs" || route == "/v1.0/removebg";
}

void SendJson(httplib::Response& res, const json& body, int status) {
  res.status = status;
  res.set_content(body.dump(), "application/json");
}

void SendResult(httplib::Response& res, const Result<json>& answer) {
  if (!answer.ok()) return SendError(res, ApiError::From(answer.status()));
  SendJson(res, *answer);
}

}  // namespace detail

std::string ApiServer::Impl::CreditsText(std::int64_t quarters) {
  const std::int64_t whole = quarters / store::kQuartersPerCredit;
  static constexpr const char* kParts[] = {"", ".25", ".5", ".75"};
  return std::to_string(whole) + kParts[quarters % store::kQuartersPerCredit];
}

void ApiServer::Impl::AddRoute(const std::string& method, const std::string& pattern,
                               const std::string& label, httplib::Server::Handler handler) {
  routes.push_back({method, label, std::regex(pattern), /*reads_body=*/false});
  if (method == "GET") http.Get(pattern, std::move(handler));
  if (method == "PUT") http.Put(pattern, std::move(handler));
  if (method == "DELETE") http.Delete(pattern, std::move(handler));
  if (method == "POST") http.Post(pattern, std::move(handler));
}

void ApiServer::Impl::AddRoute(const std::string& method, const std::string& pattern,
                               const std::string& label,
                               httplib::Server::HandlerWithContentReader handler) {
  routes.push_back({method, label, std::regex(pattern), /*reads_body=*/true});
  http.Post(pattern, std::move(handler));  // only POST routes read their bodies themselves
}

void ApiServer::Impl::AddKeyedRoute(const std::string& method, const std::string& pattern,
                                    const std::string& label, KeyedHandler handler) {
  AddRoute(method, pattern, label,
           [this, handler = std::move(handler)](const Request& req, Response& res) {
             auto key = Authenticate(req);
             if (!key.ok()) return SendError(res, ApiError::From(key.status()));
             handler(*key, req, res);
           });
}

const ApiServer::Impl::Route* ApiServer::Impl::MatchRoute(const std::string& method,
                                                          const std::string& path) const {
  for (const Route& r : routes) {
    if (r.method == method && std::regex_match(path, r.match)) return &r;
  }
  // The same path under another method is still that route (it answers 405/404 as httplib does).
  for (const Route& r : routes) {
    if (std::regex_match(path, r.match)) return &r;
  }
  return nullptr;
}

void ApiServer::Impl::RegisterRoutes() {
  RegisterRemovalRoutes();

  AddRoute("GET", "/v2/health", "/v2/health", [this](const Request&, Response& res) {
    const Status store_health = store.Health();
    const bool loaded = ready->load();
    json body = {{"status", loaded && store_health.ok() ? "ok" : "starting"},
                 {"model", {{"loaded", loaded}, {"workers", config.workers}}},
                 {"store", {{"ok", store_health.ok()}, {"startup_purge_done", true}}}};
    if (!store_health.ok()) body["status"] = "store_unavailable";
    SendJson(res, body, loaded && store_health.ok() ? 200 : 503);
  });

  AddRoute("GET", "/metrics", "/metrics", [this](const Request&, Response& res) {
    Metrics::Gauges g;
    g.ready = ready->load();
    g.workers = static_cast<std::size_t>(config.workers);
    g.max_queue = config.max_queue;
    if (g.ready) {
      g.queue_waiting = queue->waiting();
      g.queue_running = queue->running();
    }
    if (auto deleted = store.DeletionCounts(); deleted.ok()) g.deleted_by_reason = *deleted;
    res.set_content(metrics.Render(g), "text/plain; version=0.0.4");
  });
  RegisterAccountRoutes();
  RegisterWebPages();
  RegisterWebAccountRoutes();
}

void ApiServer::Impl::Log(const httplib::Request& req, const httplib::Response& res) {
  const double seconds = Seconds(t_ctx.start);
  metrics.RecordRequest(t_ctx.route, res.status, seconds);
  if (!config.access_log) return;
  // Never the body, never a full key: the key's public prefix identifies the caller.
  const json line = {
      {"request_id", t_ctx.request_id},
      {"method", req.method},
      {"route", t_ctx.route},
      {"status", res.status},
      {"key", t_ctx.key_prefix},
      {"bytes_in",
       t_ctx.bytes_in ? *t_ctx.bytes_in : req.get_header_value<uint64_t>("Content-Length")},
      {"bytes_out", res.body.size()},
      {"ms", std::llround(seconds * 1000)}};
  std::lock_guard lock(log_mu);
  std::cerr << line.dump(-1, ' ', false, json::error_handler_t::replace) << "\n";
}

ApiServer::ApiServer(ServerConfig config, store::Store& store)
    : impl_(std::make_unique<Impl>(std::move(config), store)) {
  Impl& s = *impl_;
  s.ready = &ready_;
  s.http.set_payload_max_length(kMaxBodyBytes);
  s.http.set_write_timeout(s.config.write_timeout_s, 0);
  s.http.set_pre_routing_handler([&s](const httplib::Request& req, httplib::Response& res) {
    t_ctx = RequestContext{};
    t_ctx.start = Clock::now();
    t_ctx.request_id = NewRequestId();
    t_ctx.dialect = DialectOf(req.path);
    const Impl::Route* route = s.MatchRoute(req.method, req.path);
    if (route) t_ctx.route = route->label;
    res.set_header("X-Request-ID", t_ctx.request_id);
    // API answers and error bodies too: never sniffed into HTML, never framed, no referrer.
    web::SetSecurityHeaders(res, /*no_store=*/false);
    // httplib caps bodies by Content-Length only. The image routes count chunked bodies
    // themselves (ReadBody); every other route takes small bodies and needs a length.
    if (Lower(req.get_header_value("Transfer-Encoding")).find("chunked") != std::string::npos &&
        !(route && route->method == req.method && route->reads_body)) {
      SendError(res, {"length_required", "", {}, 0});
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  // httplib's own failures (body over the cap, malformed multipart, no route) get catalogue
  // bodies too. Our handlers' errors already have a body and are left alone.
  s.http.set_error_handler(
      httplib::Server::HandlerWithResponse([](const httplib::Request& req, httplib::Response& res) {
        if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
        if (t_ctx.request_id.empty()) {
          // Failed before routing (e.g. unreadable headers).
          t_ctx.start = Clock::now();
          t_ctx.request_id = NewRequestId();
          t_ctx.dialect = DialectOf(req.path);
        }
        if (!res.has_header("X-Request-ID")) res.set_header("X-Request-ID", t_ctx.request_id);
        std::string code = "bad_request";
        if (res.status == 413) code = "payload_too_large";
        if (res.status == 404) code = "not_found";
        if (res.status == 405) code = "method_not_allowed";
        if (res.status >= 500) code = "internal_error";
        const int status = res.status;
        SendError(res, {code, "", {}, 0});
        if (code == "bad_request" && status != 400) res.status = status;
        return httplib::Server::HandlerResponse::Handled;
      }));
  s.http.set_exception_handler(
      [](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
        SendError(res, {"internal_error", "", {}, 0});
      });
  // Every answer to a caller with a key carries its rate-limit bucket (when a limit is set), as
  // remove.bg's do: the limit (burst), what is left, and when it is full again (Unix seconds).
  s.http.set_post_routing_handler([](const httplib::Request&, httplib::Response& res) {
    if (!t_ctx.rate) return;
    res.set_header("X-RateLimit-Limit", std::to_string(t_ctx.rate->limit));
    res.set_header("X-RateLimit-Remaining", std::to_string(t_ctx.rate->remaining));
    res.set_header("X-RateLimit-Reset", std::to_string(t_ctx.rate->reset_at));
  });
  s.http.set_logger([this](const httplib::Request& req, const httplib::Response& res) {
    impl_->Log(req, res);
    t_ctx = RequestContext{};
  });
  s.RegisterRoutes();
}

ApiServer::~ApiServer() = default;

std::vector<ApiServer::RouteInfo> ApiServer::Routes() const {
  std::vector<RouteInfo> out;
  for (const auto& r : impl_->routes) out.push_back({r.method, r.label});
  return out;
}

Status ApiServer::Bind() {
  Impl& s = *impl_;
  if (s.config.port == 0) {
    const int port = s.http.bind_to_any_port(s.config.host);
    if (port < 0) return Status("bind_failed", "cannot listen on " + s.config.host);
    port_ = port;
    return Status::Ok();
  }
  if (!s.http.bind_to_port(s.config.host, s.config.port))
    return Status("bind_failed", "cannot listen on " + s.config.host + ":" +
                                     std::to_string(s.config.port) + " (in use or not allowed)");
  port_ = s.config.port;
  return Status::Ok();
}

Status ApiServer::Run() {
  Impl& s = *impl_;
  Status load_status;
  std::thread loader([this, &s, &load_status] {
    std::vector<std::unique_ptr<removal::Pipeline>> pipelines;
    for (int i = 0; i < std::max(1, s.config.workers); ++i) {
      auto p = removal::Pipeline::Create(s.config.pipeline);
      if (!p.ok()) {
        load_status = p.status();
        std::cerr << "bgerase serve: cannot load the model: " << load_status.ToString() << "\n";
        Stop();
        return;
      }
      pipelines.push_back(std::move(p.value()));
    }
    s.queue = std::make_unique<InferenceQueue>(std::move(pipelines), s.config.max_queue);
    ready_.store(true);
    std::cerr << "bgerase serve: ready on http://" << s.config.host << ":" << port_ << " ("
              << s.config.workers << " worker(s), queue " << s.config.max_queue << ")\n";
  });
  if (s.config.run_jobs) s.job_thread = std::thread([&s] { s.RunJobs(); });
  s.http.Listen();
  s.http.Drain();  // the requests being answered finish; idle and part-sent ones are closed
  loader.join();
  if (s.job_thread.joinable()) {
    {
      std::lock_guard lock(s.job_mu);
      s.job_stop = true;
    }
    s.job_cv.notify_all();
    s.job_thread.join();
  }
  ready_.store(false);
  s.queue.reset();  // drains anything still accepted
  return load_status;
}

void ApiServer::Stop() {
  // httplib ignores stop() before its accept loop runs; a signal that early must not be lost.
  for (int i = 0; i < 200 && !impl_->http.is_running(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  impl_->http.stop();
}

}  // namespace bgerase::api
