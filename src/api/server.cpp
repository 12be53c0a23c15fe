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

// The routes whose bodies ReadBody reads (and caps) itself.
bool CountsItsOwnBody(const httplib::Request& req) {
  return req.method == "POST" && (req.path == "/v2" || req.path == "/v2/jobs" ||
                                  req.path == "/v1.0/removebg" || req.path == "/web/remove");
}

Dialect DialectOf(const std::string& path) {
  return path.rfind("/v1.0/", 0) == 0 ? Dialect::kRemoveBg : Dialect::kV2;
}

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

void SendError(httplib::Response& res, ApiError e) {
  res.status = HttpStatus(e);
  if (e.code == "rate_limited" && e.retry_after_s == 0) {
    // The wait is in the message ("retry in N s"); the header carries it for clients.
    const auto at = e.message.find("retry in ");
    e.retry_after_s =
        at == std::string::npos ? 1 : std::max(1, std::atoi(e.message.c_str() + at + 9));
  }
  if (e.retry_after_s > 0) res.set_header("Retry-After", std::to_string(e.retry_after_s));
  res.set_content(RenderError(e, t_ctx.dialect, t_ctx.request_id), "application/json");
}

void SendJson(httplib::Response& res, const json& body, int status) {
  res.status = status;
  res.set_content(body.dump(), "application/json");
}

// remove.bg's format=zip: color.jpg (the foreground's colours, opaque) and alpha.png (the
// matte), split from one RGBA cut-out so the model runs once.
Result<std::string> ZipColorAndAlpha(const std::string& rgba_png) {
  auto parts = imaging::SplitColorAndAlpha(rgba_png);
  if (!parts.ok()) return parts.status();
  std::ostringstream out;
  store::ZipWriter zip(out);
  const auto now =
      std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());
  BGERASE_RETURN_IF_ERROR(zip.Add("color.jpg", store::AsBytes(parts->color_jpeg), now));
  BGERASE_RETURN_IF_ERROR(zip.Add("alpha.png", store::AsBytes(parts->alpha_png), now));
  BGERASE_RETURN_IF_ERROR(zip.Finish());
  return out.str();
}

}  // namespace detail

void ApiServer::Impl::HandleV2(const httplib::Request& req, httplib::Response& res,
                               const httplib::ContentReader& reader, bool async) {
  // The body is read first, whatever follows, so a refused request leaves the connection clean.
  RawBody raw = ReadBody(req, reader);
  if (!raw.complete) return SendError(res, BodyError(raw, res.status));
  auto key = Authenticate(req);
  if (!key.ok()) return SendError(res, ApiError::From(key.status()));
  auto gathered = GatherFields(req, raw, V2ImageKeys());
  if (!gathered.ok()) return SendError(res, ApiError::From(gathered.status()));
  ApiError error;
  auto options = ParseOptions(gathered->fields, &error);
  if (!options.ok()) return SendError(res, error);
  auto image = ResolveImage(*gathered, fetch);
  if (!image.ok()) return SendError(res, ApiError::From(image.status()));
  if (async) return StartJob(key->account, std::move(*image), gathered->fields, *options, res);
  auto removed = RemoveAndKeep(key->account, std::move(*image), *options, &error);
  if (!removed.ok()) return SendError(res, error);
  const auto& r = removed->result;
  res.set_header("X-Processing-Time-Ms",
                 std::to_string(static_cast<long long>(Seconds(t_ctx.start) * 1000)));
  res.set_header("X-Image-Width", std::to_string(r.width));
  res.set_header("X-Image-Height", std::to_string(r.height));
  res.set_header("X-Foreground-Top", std::to_string(r.foreground.top));
  res.set_header("X-Foreground-Left", std::to_string(r.foreground.left));
  res.set_header("X-Foreground-Width", std::to_string(r.foreground.width));
  res.set_header("X-Foreground-Height", std::to_string(r.foreground.height));
  std::optional<std::string> item_id;
  if (!removed->stored.processing.empty()) {
    item_id = removed->stored.processing.front().item_id;
    res.set_header("X-Stored-Item-Id", *item_id);
  }
  if (!gathered->json) {
    res.set_content(r.bytes, r.mime);
    return;
  }
  json body;
  if (options->channels == removal::Channels::kAlpha) {
    body["mask"] = EncodeBase64(r.bytes);
  } else {
    body["image_base64"] = EncodeBase64(r.bytes);
  }
  body["mime"] = r.mime;
  body["width"] = r.width;
  body["height"] = r.height;
  if (item_id) body["stored_item_id"] = *item_id;
  SendJson(res, body);
}

// An async job is accepted here and run by whichever replica on the same store has an idle worker
// first (RunJobs): its input is kept through the storage policy, its option fields go into the
// job row, and the result joins the input's item — all expiring with the retention rule.
void ApiServer::Impl::StartJob(const store::AccountId& account, std::string bytes,
                               const removal::OptionFields& fields,
                               const removal::RemovalOptions& options, httplib::Response& res) {
  auto input = policy.StoreInput(account, store::AsBytes(bytes), std::string(SniffMime(bytes)),
                                 options.on_behalf_of.empty()
                                     ? std::nullopt
                                     : std::optional<std::string>(options.on_behalf_of));
  if (!input.ok()) return SendError(res, ApiError::From(input.status()));
  json kept = json::array();
  for (const auto& [k, v] : fields) kept.push_back({k, v});
  auto job = store.jobs().Create(account, input->id, kept.dump());
  if (!job.ok()) {
    (void)store.objects().Delete(account, input->id);
    return SendError(res, ApiError::From(job.status()));
  }
  {
    std::lock_guard lock(job_mu);
    job_wake = true;
  }
  job_cv.notify_all();
  res.set_header("Location", "/v2/jobs/" + job->id);
  SendJson(
      res,
      {{"id", job->id}, {"status", "queued"}, {"expires_at", store::FormatTime(job->expires_at)}},
      202);
}

// Claims a job whenever a worker of this replica is idle and nothing waits in its queue, so
// synchronous requests keep priority and a busy replica leaves jobs to idle ones. Sleeps up to
// half a second between looks unless a job is accepted here.
void ApiServer::Impl::RunJobs() {
  char host[256] = "host";
  gethostname(host, sizeof host - 1);
  const std::string worker = std::string(host) + ":" + std::to_string(getpid());
  std::unique_lock lock(job_mu);
  while (!job_stop) {
    job_wake = false;
    lock.unlock();
    bool claimed = false;
    if (ready->load() && queue->waiting() == 0 && queue->running() < queue->workers()) {
      auto job = store.jobs().Claim(worker, config.job_lease);
      if (!job.ok()) {
        std::cerr << "bgerase serve: claiming a job failed: " << job.status().ToString() << "\n";
      } else if (job->has_value()) {
        claimed = true;
        RunJob(**job);
      }
    }
    lock.lock();
    if (!claimed)
      job_cv.wait_for(lock, std::chrono::milliseconds(500), [&] { return job_stop || job_wake; });
  }
}

constexpr int kMaxJobAttempts = 3;

void ApiServer::Impl::RunJob(const store::Job& job) {
  auto fail = [&](std::string_view code) {
    (void)store.jobs().Update(job.id, store::JobStatus::kFailed, std::nullopt, code);
  };
  // A job whose replica died under it twice more (say, killed for memory) is not retried forever.
  if (job.attempts > kMaxJobAttempts) return fail("internal_error");
  auto input = store.objects().Get(job.owner, job.input_object_id);
  if (!input.ok()) return fail("not_found");  // deleted by its owner (or expired) meanwhile
  removal::OptionFields fields;
  try {
    for (const auto& pair : json::parse(job.options))
      fields.emplace_back(pair.at(0).get<std::string>(), pair.at(1).get<std::string>());
  } catch (const json::exception&) {
    return fail("internal_error");
  }
  ApiError error;
  auto options = ParseOptions(fields, &error);
  if (!options.ok()) return fail(error.code);
  options->store = true;
  auto stored_input = std::make_shared<store::StoredObject>(std::move(input).value());
  const auto owner = job.owner;
  const auto id = job.id;
  const auto opts = *options;
  const bool queued = queue->TrySubmit([this, stored_input, owner, id, opts](removal::Pipeline& p) {
    const std::string bytes(stored_input->bytes.begin(), stored_input->bytes.end());
    const auto start = Clock::now();
    Result<removal::RemovalResult> result = Status("internal_error", "removal failed");
    try {
      result = p.Run(bytes, opts);
    } catch (const std::exception& e) {
      result = Status("internal_error", e.what());
    }
    metrics.RecordInference(Seconds(start));
    if (!result.ok()) {
      (void)store.jobs().Update(id, store::JobStatus::kFailed, std::nullopt,
                                LookupError(result.status().code()).code);
      return;
    }
    auto stored =
        Keep(owner, bytes, *result, opts, stored_input->info.created_at, stored_input->info);
    std::optional<store::ObjectId> result_id;
    if (stored.ok())
      for (const auto& o : stored->processing)
        if (o.kind == store::ObjectKind::kResult) result_id = o.id;
    if (!result_id) {
      (void)store.jobs().Update(id, store::JobStatus::kFailed, std::nullopt, "internal_error");
      return;
    }
    (void)store.jobs().Update(id, store::JobStatus::kSucceeded, result_id, "");
  });
  // Raced by a synchronous request for the last queue slot: hand the job back to be claimed again.
  if (!queued) (void)store.jobs().Update(id, store::JobStatus::kQueued, std::nullopt, "");
}

void ApiServer::Impl::HandleRemoveBg(const httplib::Request& req, httplib::Response& res,
                                     const httplib::ContentReader& reader) {
  // The body is read first, whatever follows, so a refused request leaves the connection clean.
  RawBody raw = ReadBody(req, reader);
  if (!raw.complete) return SendError(res, BodyError(raw, res.status));
  auto key = Authenticate(req);
  if (!key.ok()) return SendError(res, ApiError::From(key.status()));
  auto gathered = GatherFields(req, raw, RemoveBgImageKeys());
  if (!gathered.ok()) return SendError(res, ApiError::From(gathered.status()));
  // remove.bg fields bgerase does not implement: accepted only empty or at their default, so a
  // client never gets a result that silently ignored what it asked for.
  static const std::vector<std::pair<std::string, std::vector<std::string>>> kDefaults = {
      {"scale", {"original"}},
      {"position", {"original"}},
      {"roi", {"0% 0% 100% 100%"}},
      {"add_shadow", {"false", "0", "no", "off"}},
      {"bg_image_url", {}},
      {"bg_image_file", {}},
      {"type_level", {"1", "latest"}},
      {"semitransparency", {"true", "1", "yes", "on"}},
  };
  removal::OptionFields fields;
  bool zip = false;
  for (auto& [k, v] : gathered->fields) {
    const std::string norm = removal::NormalizeOptionKey(k);
    bool handled = false;
    for (const auto& [name, defaults] : kDefaults) {
      if (norm != name) continue;
      handled = true;
      const std::string value = Lower(Trim(v));
      bool ok = value.empty();
      for (const auto& d : defaults) ok = ok || value == d;
      if (!ok)
        return SendError(res, {"unsupported_option",
                               "bgerase does not implement '" + name + "' (got '" +
                                   removal::Echo(v) + "'); leave it empty or at its default.",
                               {},
                               0});
    }
    if (norm == "format" && Lower(Trim(v)) == "zip") {
      zip = true;
      continue;
    }
    if (!handled) fields.emplace_back(k, v);
  }
  if (zip) {
    // color.jpg + alpha.png come from one RGBA cut-out; a background colour or a mask-only
    // answer would make one of the two meaningless, so they are refused rather than ignored.
    for (const auto& [k, v] : fields) {
      const std::string norm = removal::NormalizeOptionKey(k);
      if ((norm == "bg_color" || norm == "bg_colour") && !v.empty())
        return SendError(
            res, {"unsupported_option", "format=zip cannot be combined with bg_color.", {}, 0});
      if (norm == "channels" && !v.empty() && Lower(v) != "rgba")
        return SendError(res,
                         {"unsupported_option",
                          "format=zip returns color.jpg and alpha.png; leave channels at rgba.",
                          {},
                          0});
    }
    fields.emplace_back("format", "png");
  }
  ApiError error;
  auto options = ParseOptions(fields, &error);
  if (!options.ok()) return SendError(res, error);
  auto image = ResolveImage(*gathered, fetch);
  if (!image.ok()) return SendError(res, ApiError::From(image.status()));
  auto removed = RemoveAndKeep(key->account, std::move(*image), *options, &error);
  if (!removed.ok()) return SendError(res, error);
  auto& r = removed->result;
  if (zip) {
    auto archive = ZipColorAndAlpha(r.bytes);
    if (!archive.ok()) return SendError(res, ApiError::From(archive.status()));
    r.bytes = std::move(*archive);
    r.mime = "application/zip";
  }
  res.set_header("X-Width", std::to_string(r.width));
  res.set_header("X-Height", std::to_string(r.height));
  res.set_header("X-Type", options->type == "auto" ? "other" : options->type);
  res.set_header("X-Foreground-Top", std::to_string(r.foreground.top));
  res.set_header("X-Foreground-Left", std::to_string(r.foreground.left));
  res.set_header("X-Foreground-Width", std::to_string(r.foreground.width));
  res.set_header("X-Foreground-Height", std::to_string(r.foreground.height));
  res.set_header("X-Credits-Charged", "0");
  if (Lower(req.get_header_value("Accept")).find("application/json") != std::string::npos) {
    SendJson(res, {{"data",
                    {{"result_b64", EncodeBase64(r.bytes)},
                     {"foreground_top", r.foreground.top},
                     {"foreground_left", r.foreground.left},
                     {"foreground_width", r.foreground.width},
                     {"foreground_height", r.foreground.height}}}});
    return;
  }
  res.set_content(r.bytes, r.mime);
}

void ApiServer::Impl::AddRoute(const std::string& method, const std::string& pattern,
                               const std::string& label, httplib::Server::Handler handler) {
  routes.push_back({method, label, std::regex(pattern)});
  if (method == "GET") http.Get(pattern, std::move(handler));
  if (method == "PUT") http.Put(pattern, std::move(handler));
  if (method == "DELETE") http.Delete(pattern, std::move(handler));
  if (method == "POST") http.Post(pattern, std::move(handler));
}

void ApiServer::Impl::AddRoute(const std::string& method, const std::string& pattern,
                               const std::string& label,
                               httplib::Server::HandlerWithContentReader handler) {
  routes.push_back({method, label, std::regex(pattern)});
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

std::string ApiServer::Impl::RouteLabel(const std::string& method, const std::string& path) const {
  for (const Route& r : routes) {
    if (r.method == method && std::regex_match(path, r.match)) return r.label;
  }
  // The same path under another method is still that route (it answers 405/404 as httplib does).
  for (const Route& r : routes) {
    if (std::regex_match(path, r.match)) return r.label;
  }
  return "unmatched";
}

void ApiServer::Impl::RegisterRoutes() {
  AddRoute("POST", "/v2", "/v2",
           [this](const Request& q, Response& s, const Reader& r) { HandleV2(q, s, r); });
  AddRoute("POST", "/v1.0/removebg", "/v1.0/removebg",
           [this](const Request& q, Response& s, const Reader& r) { HandleRemoveBg(q, s, r); });
  RegisterJobRoutes();

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
}

void ApiServer::Impl::RegisterJobRoutes() {
  AddRoute("POST", "/v2/jobs", "/v2/jobs", [this](const Request& q, Response& s, const Reader& r) {
    HandleV2(q, s, r, /*async=*/true);
  });
  AddKeyedRoute("GET", R"(/v2/jobs/([A-Za-z0-9_\-]+))", "/v2/jobs/{id}",
                [this](const store::ApiKeyInfo& key, const Request& req, Response& res) {
                  auto job = store.jobs().Get(key.account, req.matches[1]);
                  if (!job.ok()) return SendError(res, ApiError::From(job.status()));
                  json body = {{"id", job->id},
                               {"status", std::string(store::ToString(job->status))},
                               {"created_at", store::FormatTime(job->created_at)},
                               {"expires_at", store::FormatTime(job->expires_at)}};
                  if (job->status == store::JobStatus::kFailed) body["error"] = job->error;
                  if (job->status == store::JobStatus::kSucceeded)
                    body["result_url"] = "/v2/jobs/" + job->id + "/result";
                  SendJson(res, body);
                });
  AddKeyedRoute(
      "GET", R"(/v2/jobs/([A-Za-z0-9_\-]+)/result)", "/v2/jobs/{id}/result",
      [this](const store::ApiKeyInfo& key, const Request& req, Response& res) {
        auto job = store.jobs().Get(key.account, req.matches[1]);
        if (!job.ok()) return SendError(res, ApiError::From(job.status()));
        if (job->status != store::JobStatus::kSucceeded || !job->result_object_id)
          return SendError(res, {"job_not_finished",
                                 "The job is " + std::string(store::ToString(job->status)) + ".",
                                 {},
                                 job->status == store::JobStatus::kFailed ? 0 : 1});
        auto object = store.objects().Get(key.account, *job->result_object_id);
        if (!object.ok()) return SendError(res, ApiError::From(object.status()));
        res.set_content(std::string(object->bytes.begin(), object->bytes.end()), object->info.mime);
      });
}

void ApiServer::Impl::RegisterAccountRoutes() {
  AddKeyedRoute("GET", "/v2/account", "/v2/account",
                [this](const store::ApiKeyInfo& key, const Request&, Response& res) {
                  auto account = store.accounts().FindById(key.account);
                  auto consent = store.consent().Current(key.account);
                  if (!account.ok() || !consent.ok())
                    return SendError(res, {"internal_error", "", {}, 0});
                  auto usage = UsageAnswer(store, key.account);
                  if (!usage.ok()) return SendError(res, {"internal_error", "", {}, 0});
                  SendJson(res, {{"key", {{"valid", true}, {"prefix", key.prefix}}},
                                 {"account", {{"id", account->id}, {"email", account->email}}},
                                 {"training_consent", ConsentAnswer(*consent)},
                                 {"usage", std::move(*usage)}});
                });

  AddKeyedRoute(
      "GET", "/v1.0/account", "/v1.0/account",
      [this](const store::ApiKeyInfo&, const Request&, Response& res) {
        // Self-hosted: no credits are charged, so there is nothing to count down.
        SendJson(
            res,
            {{"data",
              {{"attributes",
                {{"credits", {{"total", 0}, {"subscription", 0}, {"payg", 0}, {"enterprise", 0}}},
                 {"api", {{"free_calls", 0}, {"sizes", "all"}}}}}}}});
      });

  AddKeyedRoute("GET", "/v2/account/training-consent", "/v2/account/training-consent",
                [this](const store::ApiKeyInfo& key, const Request&, Response& res) {
                  auto state = store.consent().Current(key.account);
                  if (!state.ok()) return SendError(res, ApiError::From(state.status()));
                  SendJson(res, ConsentAnswer(*state));
                });
  AddKeyedRoute(
      "PUT", "/v2/account/training-consent", "/v2/account/training-consent",
      [this](const store::ApiKeyInfo& key, const Request& req, Response& res) {
        auto parsed = ParseJsonBody(req.body);
        if (!parsed.ok())
          return SendError(res, {"bad_request",
                                 parsed.status().message() + " Send {\"opt_in\": true|false}.",
                                 {},
                                 0});
        json body = std::move(parsed).value();
        if (!body.is_object() || !body.contains("opt_in") || !body["opt_in"].is_boolean())
          return SendError(
              res,
              {"validation_error",
               "opt_in must be true or false.",
               {{"bool_parsing", "opt_in", "opt_in must be true or false.",
                 removal::Echo(body.is_object() && body.contains("opt_in") ? body["opt_in"].dump()
                                                                           : "")}},
               0});
        auto answer = SetTrainingConsent(store, key.account, body["opt_in"].get<bool>(),
                                         store::ConsentActor::kApi);
        if (!answer.ok()) return SendError(res, ApiError::From(answer.status()));
        SendJson(res, *answer);
      });

  AddKeyedRoute(
      "GET", "/v2/account/data", "/v2/account/data",
      [this](const store::ApiKeyInfo& key, const Request&, Response& res) {
        auto held = store.data_rights().ListHeldData(key.account);
        if (!held.ok()) return SendError(res, ApiError::From(held.status()));
        json items = json::array();
        for (const auto& o : *held)
          items.push_back(
              {{"id", o.id},
               {"item_id", o.item_id},
               {"kind", std::string(store::ToString(o.kind))},
               {"purpose", std::string(store::ToString(o.purpose))},
               {"mime", o.mime},
               {"size", o.size},
               {"on_behalf_of", o.on_behalf_of ? json(*o.on_behalf_of) : json()},
               {"created_at", store::FormatTime(o.created_at)},
               {"expires_at", o.expires_at ? json(store::FormatTime(*o.expires_at)) : json()}});
        SendJson(res, {{"items", items}});
      });
  AddKeyedRoute("DELETE", "/v2/account/data", "/v2/account/data",
                [this](const store::ApiKeyInfo& key, const Request&, Response& res) {
                  auto deleted = store.data_rights().DeleteAllData(key.account);
                  if (!deleted.ok()) return SendError(res, ApiError::From(deleted.status()));
                  SendJson(res, {{"deleted", *deleted}});
                });
  AddKeyedRoute("GET", "/v2/account/export", "/v2/account/export",
                [this](const store::ApiKeyInfo& key, const Request&, Response& res) {
                  auto zip = ExportAnswer(store, key.account);
                  if (!zip.ok()) return SendError(res, ApiError::From(zip.status()));
                  res.set_header("Content-Disposition", kExportDisposition);
                  res.set_content(std::move(*zip), "application/zip");
                });
}

void ApiServer::Impl::Log(const httplib::Request& req, const httplib::Response& res) {
  const double seconds = Seconds(t_ctx.start);
  metrics.RecordRequest(t_ctx.route, res.status, seconds);
  if (!config.access_log) return;
  // Never the body, never a full key: the key's public prefix identifies the caller.
  const json line = {{"request_id", t_ctx.request_id},
                     {"method", req.method},
                     {"route", t_ctx.route},
                     {"status", res.status},
                     {"key", t_ctx.key_prefix},
                     {"bytes_in", req.get_header_value<uint64_t>("Content-Length")},
                     {"bytes_out", res.body.size()},
                     {"ms", std::llround(seconds * 1000)}};
  std::lock_guard lock(log_mu);
  std::cerr << line.dump(-1, ' ', false, json::error_handler_t::replace) << "\n";
}

ApiServer::ApiServer(ServerConfig config, store::Store& store)
    : impl_(std::make_unique<Impl>(std::move(config), store)) {
  Impl& s = *impl_;
  s.ready = &ready_;
  // Enough HTTP threads that requests beyond the inference queue reach a handler and get their
  // 503 at once, rather than waiting unseen in httplib's own unbounded connection queue.
  const std::size_t threads = static_cast<std::size_t>(s.config.workers) + s.config.max_queue + 8;
  s.http.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  s.http.set_payload_max_length(kMaxBodyBytes);
  s.http.set_read_timeout(s.config.read_timeout_s, 0);
  s.http.set_write_timeout(s.config.write_timeout_s, 0);
  s.http.set_pre_routing_handler([&s](const httplib::Request& req, httplib::Response& res) {
    t_ctx = RequestContext{};
    t_ctx.start = Clock::now();
    t_ctx.request_id = NewRequestId();
    t_ctx.dialect = DialectOf(req.path);
    t_ctx.route = s.RouteLabel(req.method, req.path);
    res.set_header("X-Request-ID", t_ctx.request_id);
    // API answers and error bodies too: never sniffed into HTML, never framed, no referrer.
    web::SetSecurityHeaders(res, /*no_store=*/false);
    // httplib caps bodies by Content-Length only. The image routes count chunked bodies
    // themselves (ReadBody); every other route takes small bodies and needs a length.
    if (Lower(req.get_header_value("Transfer-Encoding")).find("chunked") != std::string::npos &&
        !CountsItsOwnBody(req)) {
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
  s.http.set_logger([this](const httplib::Request& req, const httplib::Response& res) {
    impl_->Log(req, res);
    t_ctx = RequestContext{};
  });
  s.RegisterRoutes();
  s.RegisterWebRoutes();
}

ApiServer::~ApiServer() = default;

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
  s.http.listen_after_bind();
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
