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
#include <vips/vips8>

#include "api/server_internal.h"
#include "api/web_session.h"
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

// The metrics label for a path: the route itself when it is one of ours, so label values stay
// bounded whatever paths clients try.
std::string RouteLabel(const std::string& path) {
  static const char* const kRoutes[] = {
      "/v2",         "/v1.0/removebg",   "/v1.0/account",      "/v2/health",
      "/v2/account", "/v2/account/data", "/v2/account/export", "/v2/account/training-consent",
      "/metrics"};
  for (const char* r : kRoutes)
    if (path == r) return r;
  if (path == "/v2/jobs") return path;
  if (path.rfind("/v2/jobs/", 0) == 0)
    return path.ends_with("/result") ? "/v2/jobs/{id}/result" : "/v2/jobs/{id}";
  return "unmatched";
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

bool IsJson(const httplib::Request& req) {
  return Lower(req.get_header_value("Content-Type")).rfind("application/json", 0) == 0;
}

// Standard and URL-safe alphabets, padding optional, whitespace ignored; a `data:...;base64,`
// prefix is skipped. nullopt on any other character or an impossible length.
std::optional<std::string> DecodeBase64(std::string_view in) {
  if (in.rfind("data:", 0) == 0) {
    const auto comma = in.find(',');
    if (comma == std::string_view::npos || in.substr(0, comma).find(";base64") == in.npos)
      return std::nullopt;
    in.remove_prefix(comma + 1);
  }
  std::string out;
  out.reserve(in.size() / 4 * 3);
  unsigned buffer = 0;
  int bits = 0, pad = 0;
  for (char c : in) {
    int v;
    if (c >= 'A' && c <= 'Z')
      v = c - 'A';
    else if (c >= 'a' && c <= 'z')
      v = c - 'a' + 26;
    else if (c >= '0' && c <= '9')
      v = c - '0' + 52;
    else if (c == '+' || c == '-')
      v = 62;
    else if (c == '/' || c == '_')
      v = 63;
    else if (c == '=') {
      ++pad;
      continue;
    } else if (c == ' ' || c == '\n' || c == '\r' || c == '\t') {
      continue;
    } else {
      return std::nullopt;
    }
    if (pad > 0) return std::nullopt;  // data after padding
    buffer = (buffer << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((buffer >> bits) & 0xFF));
    }
  }
  if (bits >= 6 || pad > 2) return std::nullopt;  // a dangling sextet is not base64
  return out;
}

std::string EncodeBase64(std::string_view in) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const unsigned n = (static_cast<unsigned char>(in[i]) << 16) |
                       (static_cast<unsigned char>(in[i + 1]) << 8) |
                       static_cast<unsigned char>(in[i + 2]);
    out += {kAlphabet[n >> 18], kAlphabet[(n >> 12) & 63], kAlphabet[(n >> 6) & 63],
            kAlphabet[n & 63]};
  }
  if (i < in.size()) {
    unsigned n = static_cast<unsigned char>(in[i]) << 16;
    if (i + 1 < in.size()) n |= static_cast<unsigned char>(in[i + 1]) << 8;
    out += kAlphabet[n >> 18];
    out += kAlphabet[(n >> 12) & 63];
    out += i + 1 < in.size() ? kAlphabet[(n >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

// The stored input's type, recognised from its bytes (the declared type is not trusted).
std::string SniffMime(std::string_view b) {
  auto starts = [&](std::string_view sig, std::size_t at = 0) {
    return b.size() >= at + sig.size() && b.substr(at, sig.size()) == sig;
  };
  if (starts("\x89PNG")) return "image/png";
  if (starts("\xFF\xD8\xFF")) return "image/jpeg";
  if (starts("RIFF") && starts("WEBP", 8)) return "image/webp";
  if (starts("GIF8")) return "image/gif";
  if (starts("II*") || starts("MM\0*")) return "image/tiff";
  if (starts("ftypavif", 4)) return "image/avif";
  if (starts("ftyp", 4)) return "image/heic";
  return "application/octet-stream";
}

namespace {

// Depth first, in one linear pass that does not recurse: nothing may walk a value (parse, dump,
// echo) nested deeper than any body of ours needs.
Status CheckJsonDepth(std::string_view text) {
  int depth = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxJsonDepth)
        return Status("bad_request", "The JSON body nests deeper than " +
                                         std::to_string(kMaxJsonDepth) + " levels.");
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return Status();
}

// The top-level fields of a JSON object in order, duplicates kept: nlohmann's DOM keeps only a
// duplicate key's last value, which would let `{"image_base64": a, "image_base64": b}` pass the
// one-image rule and a repeated option escape the duplicate check multipart and forms get.
class TopLevelFields : public nlohmann::json_sax<json> {
 public:
  std::vector<std::pair<std::string, json>> fields;
  bool object = false;

  bool null() override { return Scalar(nullptr); }
  bool boolean(bool v) override { return Scalar(v); }
  bool number_integer(number_integer_t v) override { return Scalar(v); }
  bool number_unsigned(number_unsigned_t v) override { return Scalar(v); }
  bool number_float(number_float_t v, const string_t&) override { return Scalar(v); }
  bool string(string_t& v) override { return Scalar(v); }
  bool binary(binary_t&) override { return Scalar(json::array()); }
  bool start_object(std::size_t) override {
    if (depth_ == 0) object = true;
    if (depth_ == 1) fields.emplace_back(key_, json::object());  // not a field value we take
    ++depth_;
    return true;
  }
  bool start_array(std::size_t) override {
    if (depth_ == 1) fields.emplace_back(key_, json::array());
    ++depth_;
    return true;
  }
  bool end_object() override { return --depth_ >= 0; }
  bool end_array() override { return --depth_ >= 0; }
  bool key(string_t& k) override {
    if (depth_ == 1) key_ = k;
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override {
    return false;
  }

 private:
  bool Scalar(json v) {
    if (depth_ == 1) fields.emplace_back(key_, std::move(v));
    return true;
  }
  int depth_ = 0;
  std::string key_;
};

}  // namespace

Result<json> ParseJsonBody(std::string_view text) {
  BGERASE_RETURN_IF_ERROR(CheckJsonDepth(text));
  try {
    return json::parse(text);
  } catch (const json::exception&) {
    return Status("bad_request", "The body is not valid JSON.");
  }
}

// The field's string form for the options parser: JSON booleans and numbers as text.
std::optional<std::string> JsonFieldText(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
  if (v.is_number()) return v.dump();
  if (v.is_null()) return std::string();
  return std::nullopt;
}

RawBody ReadBody(const httplib::Request& req, const httplib::ContentReader& reader) {
  RawBody raw;
  raw.boundary = MultipartBoundary(req.get_header_value("Content-Type"));
  // httplib caps bodies by Content-Length only; a chunked body is counted here and cut off at the
  // same cap, before it can fill memory.
  auto receive = [&](const char* data, std::size_t n) {
    if (raw.body.size() + n > kMaxBodyBytes) raw.too_large = true;
    if (!raw.too_large) raw.body.append(data, n);
    return !raw.too_large;
  };
  // Every body arrives as bytes; multipart ones are parsed by our own parser (GatherFields).
  // httplib 0.11 parses a body itself whenever the request's Content-Type starts with
  // multipart/form-data, and its parser refuses valid bodies (no CRLF after the close
  // delimiter, RFC 2046 §5.1.1) and counts no parts. So the type is hidden from it while the
  // body is read. The Request is httplib's own non-const object, lent to handlers as const.
  auto& headers = const_cast<httplib::Headers&>(req.headers);
  const auto type = headers.find("Content-Type");
  std::string declared;
  if (raw.boundary && type != headers.end()) std::swap(declared, type->second);
  raw.complete = reader(receive);
  if (raw.boundary && type != headers.end()) std::swap(declared, type->second);
  if (raw.too_large) {
    raw.complete = false;
    raw.body.clear();
  }
  return raw;
}

std::string UrlDecode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out += ' ';
    } else if (s[i] == '%' && i + 2 < s.size() && HexDigit(s[i + 1]) >= 0 &&
               HexDigit(s[i + 2]) >= 0) {
      out += static_cast<char>(HexDigit(s[i + 1]) * 16 + HexDigit(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

ApiError BodyError(const RawBody& raw, int httplib_status) {
  if (raw.too_large || httplib_status == 413) return {"payload_too_large", "", {}, 0};
  return {"bad_request", "The request body could not be read (malformed or cut short).", {}, 0};
}

// Reads the request's fields. `image_keys` maps a (normalised) field name to where its value
// goes: 'f' raw file, 'b' base64, 'u' url, 'l' legacy base64 forcing channels=alpha.
Result<RemovalRequest> GatherFields(const httplib::Request& req, RawBody& raw,
                                    const std::vector<std::pair<std::string, char>>& image_keys) {
  RemovalRequest r;
  auto place = [&](const std::string& key, std::string value) {
    const std::string k = removal::NormalizeOptionKey(key);
    for (const auto& [name, kind] : image_keys) {
      if (k != name) continue;
      if (value.empty()) return;  // remove.bg clients send empty strings for unused fields
      ++r.images;
      if (kind == 'f') r.image = std::move(value);
      if (kind == 'b') r.image_b64 = std::move(value);
      if (kind == 'u') r.image_url = std::move(value);
      if (kind == 'l') {
        r.image_b64 = std::move(value);
        r.fields.emplace_back("channels", "alpha");
      }
      return;
    }
    r.fields.emplace_back(key, std::move(value));
  };
  if (raw.boundary) {
    auto parts = ParseMultipart(raw.body, *raw.boundary);
    if (!parts.ok()) return parts.status();
    for (const auto& part : *parts) place(part.name, std::string(part.content));
    std::string().swap(raw.body);  // the parts are copied out: do not hold the body twice
  } else if (IsJson(req)) {
    r.json = true;
    BGERASE_RETURN_IF_ERROR(CheckJsonDepth(raw.body));
    TopLevelFields body;
    if (!json::sax_parse(raw.body, &body)) return Status("bad_request", "The body is not valid JSON.");
    if (!body.object) return Status("bad_request", "The JSON body must be an object.");
    for (auto& [key, value] : body.fields) {
      auto text = JsonFieldText(value);
      if (!text)
        return Status("bad_request", "Field '" + removal::Echo(key) +
                                         "' must be a string, number, boolean or null.");
      place(key, std::move(*text));
    }
  } else {
    // application/x-www-form-urlencoded (also what a body without a type is read as).
    std::string_view rest = raw.body;
    while (!rest.empty()) {
      const auto amp = rest.find('&');
      const std::string_view pair = rest.substr(0, amp);
      rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
      if (pair.empty()) continue;
      const auto eq = pair.find('=');
      place(UrlDecode(pair.substr(0, eq)),
            eq == std::string_view::npos ? std::string() : UrlDecode(pair.substr(eq + 1)));
    }
  }
  // Every form of ours has about 30 fields; more is refused before any field is looked at.
  if (r.fields.size() + static_cast<std::size_t>(r.images) > kMaxFormParts)
    return Status("bad_request", "The request has more than " + std::to_string(kMaxFormParts) +
                                     " fields.");
  return r;
}

// Field names and their normalised forms for image sources in each dialect.
const std::vector<std::pair<std::string, char>>& V2ImageKeys() {
  static const std::vector<std::pair<std::string, char>> k = {{"image_file", 'f'},
                                                              {"image_base64", 'b'},
                                                              {"image", 'l'},
                                                              {"image_url", 'u'},
                                                              {"imageurl", 'u'}};
  return k;
}
const std::vector<std::pair<std::string, char>>& RemoveBgImageKeys() {
  static const std::vector<std::pair<std::string, char>> k = {
      {"image_file", 'f'}, {"image_file_b64", 'b'}, {"image_url", 'u'}};
  return k;
}

// Turns the gathered request into image bytes (fetching image_url), or the error to answer.
Result<std::string> ResolveImage(const RemovalRequest& r, const UrlFetchOptions& fetch) {
  if (r.images == 0)
    return Status("bad_request", "No image: send image_file, a base64 image or image_url.");
  if (r.images > 1) return Status("bad_request", "Send exactly one image field.");
  if (r.image) return *r.image;
  if (r.image_b64) {
    auto bytes = DecodeBase64(*r.image_b64);
    if (!bytes || bytes->empty()) return Status("invalid_base64", "The image is not valid base64.");
    return std::move(*bytes);
  }
  return FetchImageUrl(*r.image_url, fetch);
}

// Options through the one parser; unknown fields are refused (never silently ignored).
Result<removal::RemovalOptions> ParseOptions(const removal::OptionFields& fields, ApiError* error) {
  std::vector<removal::FieldError> details;
  std::vector<std::string> unknown;
  auto options = removal::ParseRemovalOptions(fields, &details, &unknown);
  for (const auto& key : unknown) {
    std::string input;
    for (const auto& [k, v] : fields)
      if (k == key) input = v;
    details.push_back({"extra_forbidden", removal::Echo(key),
                       "Unknown field '" + removal::Echo(key) + "'.", removal::Echo(input)});
  }
  for (auto& d : details) d.input = removal::Echo(std::move(d.input));
  if (options.ok() && details.empty()) return options;
  if (!options.ok() && options.status().code() == "invalid_bg_color") {
    *error = {"invalid_bg_color", options.status().message(), {}, 0};
  } else {
    *error = {"validation_error",
              options.ok() ? "Unknown field '" + removal::Echo(unknown.front()) + "'."
                           : options.status().message(),
              std::move(details), 0};
  }
  return Status(error->code, error->message);
}

// remove.bg's format=zip: color.jpg (the foreground's colours, opaque) and alpha.png (the
// matte), split from one RGBA cut-out so the model runs once.
Result<std::string> ZipColorAndAlpha(const std::string& rgba_png) {
  try {
    vips::VImage im = vips::VImage::new_from_buffer(rgba_png.data(), rgba_png.size(), "");
    if (im.bands() != 4) return Status("internal_error", "zip needs an RGBA cut-out");
    void* buf = nullptr;
    std::size_t len = 0;
    im.extract_band(0, vips::VImage::option()->set("n", 3))
        .write_to_buffer(".jpg", &buf, &len, vips::VImage::option()->set("Q", 90));
    const std::string color(static_cast<const char*>(buf), len);
    g_free(buf);
    im.extract_band(3).write_to_buffer(".png", &buf, &len);
    const std::string alpha(static_cast<const char*>(buf), len);
    g_free(buf);
    std::ostringstream out;
    store::ZipWriter zip(out);
    const auto now =
        std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());
    BGERASE_RETURN_IF_ERROR(zip.Add("color.jpg", store::AsBytes(color), now));
    BGERASE_RETURN_IF_ERROR(zip.Add("alpha.png", store::AsBytes(alpha), now));
    BGERASE_RETURN_IF_ERROR(zip.Finish());
    return out.str();
  } catch (const vips::VError& e) {
    return Status("internal_error", std::string("zip: ") + e.what());
  }
}

}  // namespace detail

void ApiServer::Impl::HandleV2(const httplib::Request& req, httplib::Response& res,
                               const httplib::ContentReader& reader, bool async) {
  // The body is read first, whatever follows, so a refused request leaves the connection clean.
  RawBody raw = ReadBody(req, reader);
  if (!raw.complete) return SendError(res, BodyError(raw, res.status));
  t_ctx.route = async ? "/v2/jobs" : "/v2";
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
  auto input = policy.StoreInput(account, store::AsBytes(bytes), SniffMime(bytes),
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
  t_ctx.route = "/v1.0/removebg";
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

void ApiServer::Impl::RegisterRoutes() {
  using httplib::Request;
  using httplib::Response;
  http.Post("/v2", [this](const Request& q, Response& s, const httplib::ContentReader& r) {
    HandleV2(q, s, r);
  });
  http.Post("/v2/jobs", [this](const Request& q, Response& s, const httplib::ContentReader& r) {
    HandleV2(q, s, r, /*async=*/true);
  });
  http.Get(R"(/v2/jobs/([A-Za-z0-9_\-]+))", [this](const Request& req, Response& res) {
    auto key = Authenticate(req);
    if (!key.ok()) return SendError(res, ApiError::From(key.status()));
    auto job = store.jobs().Get(key->account, req.matches[1]);
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
  http.Get(R"(/v2/jobs/([A-Za-z0-9_\-]+)/result)", [this](const Request& req, Response& res) {
    auto key = Authenticate(req);
    if (!key.ok()) return SendError(res, ApiError::From(key.status()));
    auto job = store.jobs().Get(key->account, req.matches[1]);
    if (!job.ok()) return SendError(res, ApiError::From(job.status()));
    if (job->status != store::JobStatus::kSucceeded || !job->result_object_id)
      return SendError(res, {"job_not_finished",
                             "The job is " + std::string(store::ToString(job->status)) + ".",
                             {},
                             job->status == store::JobStatus::kFailed ? 0 : 1});
    auto object = store.objects().Get(key->account, *job->result_object_id);
    if (!object.ok()) return SendError(res, ApiError::From(object.status()));
    res.set_content(std::string(object->bytes.begin(), object->bytes.end()), object->info.mime);
  });
  http.Post("/v1.0/removebg", [this](const Request& q, Response& s,
                                     const httplib::ContentReader& r) { HandleRemoveBg(q, s, r); });

  http.Get("/v2/health", [this](const Request&, Response& res) {
    t_ctx.route = "/v2/health";
    const Status store_health = store.Health();
    const bool loaded = ready->load();
    json body = {{"status", loaded && store_health.ok() ? "ok" : "starting"},
                 {"model", {{"loaded", loaded}, {"workers", config.workers}}},
                 {"store", {{"ok", store_health.ok()}, {"startup_purge_done", true}}}};
    if (!store_health.ok()) body["status"] = "store_unavailable";
    SendJson(res, body, loaded && store_health.ok() ? 200 : 503);
  });

  http.Get("/metrics", [this](const Request&, Response& res) {
    t_ctx.route = "/metrics";
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

  http.Get("/v2/account", [this](const Request& req, Response& res) {
    t_ctx.route = "/v2/account";
    auto key = Authenticate(req);
    if (!key.ok()) return SendError(res, ApiError::From(key.status()));
    auto account = store.accounts().FindById(key->account);
    auto consent = store.consent().Current(key->account);
    if (!account.ok() || !consent.ok()) return SendError(res, {"internal_error", "", {}, 0});
    auto total = store.usage().Total(key->account);
    auto daily = store.usage().Daily(key->account, 30);
    if (!total.ok() || !daily.ok()) return SendError(res, {"internal_error", "", {}, 0});
    json days = json::array();
    for (const auto& d : *daily) days.push_back({{"day", d.day}, {"images", d.images}});
    SendJson(res,
             {{"key", {{"valid", true}, {"prefix", key->prefix}}},
              {"account", {{"id", account->id}, {"email", account->email}}},
              {"training_consent",
               {{"opt_in", consent->opted_in},
                {"changed_at",
                 consent->changed_at ? json(store::FormatTime(*consent->changed_at)) : json()}}},
              {"usage", {{"images_total", *total}, {"daily", days}}}});
  });

  http.Get("/v1.0/account", [this](const Request& req, Response& res) {
    t_ctx.route = "/v1.0/account";
    auto key = Authenticate(req);
    if (!key.ok()) return SendError(res, ApiError::From(key.status()));
    // Self-hosted: no credits are charged, so there is nothing to count down.
    SendJson(res,
             {{"data",
               {{"attributes",
                 {{"credits", {{"total", 0}, {"subscription", 0}, {"payg", 0}, {"enterprise", 0}}},
                  {"api", {{"free_calls", 0}, {"sizes", "all"}}}}}}}});
  });

  auto consent_answer = [](const store::ConsentState& s) {
    return json{{"opt_in", s.opted_in},
                {"changed_at", s.changed_at ? json(store::FormatTime(*s.changed_at)) : json()}};
  };
  http.Get("/v2/account/training-consent",
           [this, consent_answer](const Request& req, Response& res) {
             t_ctx.route = "/v2/account/training-consent";
             auto key = Authenticate(req);
             if (!key.ok()) return SendError(res, ApiError::From(key.status()));
             auto state = store.consent().Current(key->account);
             if (!state.ok()) return SendError(res, ApiError::From(state.status()));
             SendJson(res, consent_answer(*state));
           });
  http.Put("/v2/account/training-consent", [this, consent_answer](const Request& req,
                                                                  Response& res) {
    t_ctx.route = "/v2/account/training-consent";
    auto key = Authenticate(req);
    if (!key.ok()) return SendError(res, ApiError::From(key.status()));
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
    if (body["opt_in"].get<bool>()) {
      auto state =
          store.consent().Grant(key->account, kTrainingPolicyVersion, store::ConsentActor::kApi);
      if (!state.ok()) return SendError(res, ApiError::From(state.status()));
      return SendJson(res, consent_answer(*state));
    }
    auto w =
        store.consent().Withdraw(key->account, kTrainingPolicyVersion, store::ConsentActor::kApi);
    if (!w.ok()) return SendError(res, ApiError::From(w.status()));
    json answer = consent_answer(w->state);
    answer["training_objects_deleted"] = w->training_objects_deleted;
    SendJson(res, answer);
  });

  http.Get("/v2/account/data", [this](const Request& req, Response& res) {
    t_ctx.route = "/v2/account/data";
    auto key = Authenticate(req);
    if (!key.ok()) return SendError(res, ApiError::From(key.status()));
    auto held = store.data_rights().ListHeldData(key->account);
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
  http.Delete("/v2/account/data", [this](const Request& req, Response& res) {
    t_ctx.route = "/v2/account/data";
    auto key = Authenticate(req);
    if (!key.ok()) return SendError(res, ApiError::From(key.status()));
    auto deleted = store.data_rights().DeleteAllData(key->account);
    if (!deleted.ok()) return SendError(res, ApiError::From(deleted.status()));
    SendJson(res, {{"deleted", *deleted}});
  });
  http.Get("/v2/account/export", [this](const Request& req, Response& res) {
    t_ctx.route = "/v2/account/export";
    auto key = Authenticate(req);
    if (!key.ok()) return SendError(res, ApiError::From(key.status()));
    std::ostringstream out;
    const Status st = store.data_rights().ExportZip(key->account, out);
    if (!st.ok()) return SendError(res, ApiError::From(st));
    res.set_header("Content-Disposition", "attachment; filename=\"bgerase-export.zip\"");
    res.set_content(out.str(), "application/zip");
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
  s.http.set_pre_routing_handler([](const httplib::Request& req, httplib::Response& res) {
    t_ctx = RequestContext{};
    t_ctx.start = Clock::now();
    t_ctx.request_id = NewRequestId();
    t_ctx.dialect = DialectOf(req.path);
    t_ctx.route = RouteLabel(req.path);
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
