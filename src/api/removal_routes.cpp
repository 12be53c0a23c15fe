// The removal routes: POST /v2 (sync), POST /v2/jobs and its status and result (async, run by
// job_runner.cpp), and remove.bg's POST /v1.0/removebg. Each reads its own body (ReadBody), then
// authenticates, gathers fields, parses options and runs Prepare/Infer/Render (Remove).
#include <chrono>
#include <sstream>

#include "api/server_internal.h"
#include "imaging/imaging.h"
#include "store/zip_writer.h"

namespace bgerase::api {
namespace {

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

// The subject's box in the output, as both dialects answer it.
void SetForegroundHeaders(httplib::Response& res, const removal::Box& box) {
  res.set_header("X-Foreground-Top", std::to_string(box.top));
  res.set_header("X-Foreground-Left", std::to_string(box.left));
  res.set_header("X-Foreground-Width", std::to_string(box.width));
  res.set_header("X-Foreground-Height", std::to_string(box.height));
}

}  // namespace

std::optional<ApiServer::Impl::KeyedRequest> ApiServer::Impl::ReadKeyedRequest(
    const Request& req, Response& res, const Reader& reader, const ImageKeys& image_keys) {
  // The body is read first, whatever follows, so a refused request leaves the connection clean.
  RawBody raw = ReadBody(req, reader);
  t_ctx.bytes_in = raw.received;
  if (!raw.complete) {
    SendError(res, BodyError(raw, res.status));
    return std::nullopt;
  }
  auto key = Authenticate(req);
  if (!key.ok()) {
    SendError(res, ApiError::From(key.status()));
    return std::nullopt;
  }
  auto gathered = GatherFields(req, raw, image_keys);
  if (!gathered.ok()) {
    SendError(res, ApiError::From(gathered.status()));
    return std::nullopt;
  }
  return KeyedRequest{std::move(key).value(), std::move(gathered).value()};
}

void ApiServer::Impl::HandleV2(const httplib::Request& req, httplib::Response& res,
                               const httplib::ContentReader& reader, bool async) {
  auto keyed = ReadKeyedRequest(req, res, reader, V2ImageKeys());
  if (!keyed) return;
  const store::ApiKeyInfo& key = keyed->key;
  RemovalRequest& gathered = keyed->request;
  auto background = TakeBackgroundFields(gathered.fields);
  if (!background.ok()) return SendError(res, ApiError::From(background.status()));
  ApiError error;
  auto options = ParseOptions(gathered.fields, &error);
  if (!options.ok()) return SendError(res, error);
  auto image = ResolveImage(gathered, fetch);
  if (!image.ok()) return SendError(res, ApiError::From(image.status()));
  if (async) {
    // A job keeps its option fields in its row, which is no place for image bytes: a background
    // goes with a job as a URL, fetched when the job runs.
    if (background->file || background->base64)
      return SendError(res, {"bad_request",
                             "An async job takes its background as bg_image_url; send "
                             "bg_image_file or bg_image_base64 to POST /v2 instead.",
                             {},
                             0});
    if (background->url) gathered.fields.emplace_back("bg_image_url", *background->url);
    return StartJob(key.account, std::move(*image), gathered.fields, *options, res);
  }
  if (Status s = ResolveBackground(std::move(*background), fetch, &*options); !s.ok())
    return SendError(res, ApiError::From(s));
  auto removed = RemoveAndKeep(key.account, std::move(*image), *options, &error);
  if (!removed.ok()) return SendError(res, error);
  const auto& r = removed->result;
  res.set_header("X-Processing-Time-Ms",
                 std::to_string(static_cast<long long>(Seconds(t_ctx.start) * 1000)));
  res.set_header("X-Image-Width", std::to_string(r.width));
  res.set_header("X-Image-Height", std::to_string(r.height));
  res.set_header("X-Credits-Charged", CreditsText(QuarterCredits(*options)));
  SetForegroundHeaders(res, r.foreground);
  std::optional<std::string> item_id;
  if (!removed->stored.processing.empty()) {
    item_id = removed->stored.processing.front().item_id;
    res.set_header("X-Stored-Item-Id", *item_id);
  }
  if (!gathered.json) {
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
  // Charged when accepted (a job refused for credits is never queued), refunded if it fails.
  const std::int64_t quarters = QuarterCredits(options);
  if (Status charged = store.usage().Charge(account, quarters); !charged.ok())
    return SendError(res, ApiError::From(charged));
  const store::Time charged_at = store.clock().Now();
  auto refund = [&] { (void)store.usage().Refund(account, quarters, charged_at); };
  auto input = policy.StoreInput(account, store::AsBytes(bytes), std::string(SniffMime(bytes)),
                                 options.on_behalf_of.empty()
                                     ? std::nullopt
                                     : std::optional<std::string>(options.on_behalf_of));
  if (!input.ok()) {
    refund();
    return SendError(res, ApiError::From(input.status()));
  }
  json kept = json::array();
  for (const auto& [k, v] : fields) kept.push_back({k, v});
  auto job = store.jobs().Create(account, input->id, kept.dump());
  if (!job.ok()) {
    (void)store.objects().Delete(account, input->id);
    refund();
    return SendError(res, ApiError::From(job.status()));
  }
  WakeJobRunner();
  res.set_header("X-Credits-Charged", CreditsText(quarters));
  res.set_header("Location", "/v2/jobs/" + job->id);
  SendJson(
      res,
      {{"id", job->id}, {"status", "queued"}, {"expires_at", store::FormatTime(job->expires_at)}},
      202);
}

void ApiServer::Impl::HandleRemoveBg(const httplib::Request& req, httplib::Response& res,
                                     const httplib::ContentReader& reader) {
  auto keyed = ReadKeyedRequest(req, res, reader, RemoveBgImageKeys());
  if (!keyed) return;
  const store::ApiKeyInfo& key = keyed->key;
  RemovalRequest& gathered = keyed->request;
  auto mapped = MapRemoveBgFields(std::move(gathered.fields));
  if (!mapped.ok()) return SendError(res, ApiError::From(mapped.status()));
  const bool zip = mapped->zip;
  removal::OptionFields& fields = mapped->fields;
  auto background = TakeBackgroundFields(fields);
  if (!background.ok()) return SendError(res, ApiError::From(background.status()));
  ApiError error;
  auto options = ParseOptions(fields, &error);
  if (!options.ok()) return SendError(res, error);
  auto image = ResolveImage(gathered, fetch);
  if (!image.ok()) return SendError(res, ApiError::From(image.status()));
  if (Status s = ResolveBackground(std::move(*background), fetch, &*options); !s.ok())
    return SendError(res, ApiError::From(s));
  auto removed = RemoveAndKeep(key.account, std::move(*image), *options, &error);
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
  SetForegroundHeaders(res, r.foreground);
  res.set_header("X-Credits-Charged", CreditsText(QuarterCredits(*options)));
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

void ApiServer::Impl::RegisterRemovalRoutes() {
  AddRoute("POST", "/v2", "/v2",
           [this](const Request& q, Response& s, const Reader& r) { HandleV2(q, s, r); });
  AddRoute("POST", "/v1.0/removebg", "/v1.0/removebg",
           [this](const Request& q, Response& s, const Reader& r) { HandleRemoveBg(q, s, r); });
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

}  // namespace bgerase::api
