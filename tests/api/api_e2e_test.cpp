// End to end: the HTTP API of a real `bgerase serve` (real model, real store) on loopback, in
// both dialects, with real photographs from Debian's python3-skimage. Each test starts its own
// server (ctest runs every test alone), so each groups the assertions of one concern.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <atomic>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <vips/vips8>

#include "../imaging/test_images.h"
#include "imaging/imaging.h"
#include "pg_test_util.h"
#include "test_server.h"

namespace bgerase::api::testing {
namespace {

using json = nlohmann::json;
using vips::VImage;

const std::string kSkimage = "/usr/lib/python3/dist-packages/skimage/data/";

std::string Photo(const std::string& name) {
  return ReadAll(kSkimage + name);
}

std::string Base64(const std::string& in) {
  static constexpr char k[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    unsigned n = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    out += {k[n >> 18], k[(n >> 12) & 63], k[(n >> 6) & 63], k[n & 63]};
  }
  if (i < in.size()) {
    unsigned n = uint8_t(in[i]) << 16;
    if (i + 1 < in.size()) n |= uint8_t(in[i + 1]) << 8;
    out += {k[n >> 18], k[(n >> 12) & 63], i + 1 < in.size() ? k[(n >> 6) & 63] : '=', '='};
  }
  return out;
}

std::string Unbase64(const std::string& in) {
  std::string out;
  unsigned buf = 0;
  int bits = 0;
  for (char c : in) {
    const char* k = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const char* p = std::strchr(k, c);
    if (c == '=' || !p) continue;
    buf = (buf << 6) | unsigned(p - k);
    bits += 6;
    if (bits >= 8) out += char((buf >> (bits -= 8)) & 0xFF);
  }
  return out;
}

VImage Decode(const std::string& bytes) {
  return VImage::new_from_buffer(bytes.data(), bytes.size(), "").copy_memory();
}

// Mean alpha (0..255) of a rectangle of an image with alpha.
double MeanAlpha(const VImage& im, int left, int top, int w, int h) {
  return im.extract_area(left, top, w, h).extract_band(im.bands() - 1).avg();
}

httplib::MultipartFormDataItems Form(const std::string& image,
                                     const std::vector<std::pair<std::string, std::string>>& f) {
  httplib::MultipartFormDataItems items = {{"image_file", image, "photo.png", "image/png"}};
  for (const auto& [k, v] : f) items.push_back({k, v, "", ""});
  return items;
}

// The v2 error body's code, after checking its shape and the request id it carries.
std::string V2Code(const httplib::Result& res, int status) {
  EXPECT_TRUE(res);
  if (!res) return "";
  EXPECT_EQ(res->status, status) << res->body;
  json j = json::parse(res->body, nullptr, false);
  EXPECT_TRUE(j.contains("error")) << res->body;
  if (!j.contains("error")) return "";
  EXPECT_EQ(j["error"]["status"], status);
  EXPECT_EQ(j["error"]["request_id"], res->get_header_value("X-Request-ID"));
  EXPECT_FALSE(j["error"]["message"].get<std::string>().empty());
  return j["error"]["code"];
}

std::string RemoveBgCode(const httplib::Result& res, int status) {
  EXPECT_TRUE(res);
  if (!res) return "";
  EXPECT_EQ(res->status, status) << res->body;
  json j = json::parse(res->body, nullptr, false);
  EXPECT_TRUE(j.contains("errors") && j["errors"].is_array() && !j["errors"].empty()) << res->body;
  if (!j.contains("errors")) return "";
  EXPECT_FALSE(j["errors"][0]["title"].get<std::string>().empty());
  return j["errors"][0]["code"];
}

// The entries of a zip with stored (uncompressed) entries, read from the local headers.
std::map<std::string, std::string> StoredZipEntries(const std::string& zip) {
  std::map<std::string, std::string> out;
  auto u16 = [&](size_t at) { return uint8_t(zip[at]) | (uint8_t(zip[at + 1]) << 8); };
  auto u32 = [&](size_t at) { return uint32_t(u16(at)) | (uint32_t(u16(at + 2)) << 16); };
  size_t at = 0;
  while (at + 30 <= zip.size() && u32(at) == 0x04034b50) {
    EXPECT_EQ(u16(at + 8), 0) << "stored entries expected";
    const size_t size = u32(at + 18), name_len = u16(at + 26), extra = u16(at + 28);
    const std::string name = zip.substr(at + 30, name_len);
    out[name] = zip.substr(at + 30 + name_len + extra, size);
    at += 30 + name_len + extra + size;
  }
  return out;
}

// Polls GET /v2/jobs/{id} until the job has finished (bounded: 2 minutes); its last answer.
json WaitForJob(httplib::Client& c, const httplib::Headers& auth, const std::string& id) {
  json job;
  for (int i = 0; i < 1200; ++i) {
    auto st = c.Get("/v2/jobs/" + id, auth);
    // Which failure it was (no answer, or which status) is what tells a flake's cause.
    EXPECT_TRUE(st && st->status == 200)
        << (st ? "status " + std::to_string(st->status) + ": " + st->body
               : "no answer: " + httplib::to_string(st.error()));
    if (!st || st->status != 200) break;
    job = json::parse(st->body);
    if (job["status"] == "succeeded" || job["status"] == "failed") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return job;
}

class Api : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(imaging::InitVips().ok()); }
  void TearDown() override { server_.Stop(); }
  TestServer server_;
};

TEST_F(Api, HealthAuthAndEveryErrorCodeInBothDialects) {
  server_.Start();
  auto c = server_.Client();
  auto health = c.Get("/v2/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  json h = json::parse(health->body);
  EXPECT_EQ(h["status"], "ok");
  EXPECT_EQ(h["model"]["loaded"], true);
  EXPECT_EQ(h["store"]["ok"], true);

  const std::string photo = Photo("astronaut.png");
  // 401s: no key, wrong key; header name in any case.
  EXPECT_EQ(V2Code(c.Post("/v2", Form(photo, {})), 401), "missing_api_key");
  EXPECT_EQ(V2Code(c.Post("/v2", {{"x-api-key", "bge_0000"}}, Form(photo, {})), 401),
            "invalid_api_key");
  EXPECT_EQ(RemoveBgCode(c.Post("/v1.0/removebg", Form(photo, {})), 401), "missing_api_key");
  EXPECT_EQ(RemoveBgCode(c.Post("/v1.0/removebg", {{"X-API-KEY", "nope"}}, Form(photo, {})), 401),
            "invalid_api_key");
  EXPECT_EQ(V2Code(c.Get("/v2/account"), 401), "missing_api_key");

  const auto auth = server_.Auth();
  EXPECT_EQ(V2Code(c.Post("/v2", auth, Form(photo, {{"bg_color", "notacolour"}})), 400),
            "invalid_bg_color");
  {
    auto res = c.Post("/v2", auth, Form(photo, {{"size", "huge"}, {"favourite", "1"}}));
    EXPECT_EQ(V2Code(res, 422), "validation_error");
    json j = json::parse(res->body);
    ASSERT_EQ(j["error"]["details"].size(), 2u) << res->body;
    EXPECT_EQ(j["error"]["details"][0]["loc"], json::array({"body", "size"}));
    EXPECT_EQ(j["error"]["details"][0]["input"], "huge");
    EXPECT_EQ(j["error"]["details"][0]["type"], "enum");
    EXPECT_EQ(j["error"]["details"][1]["loc"], json::array({"body", "favourite"}));
    EXPECT_EQ(j["error"]["details"][1]["type"], "extra_forbidden");
  }
  EXPECT_EQ(V2Code(c.Post("/v2", auth, Form(photo.substr(0, 2000), {})), 400), "corrupt_image");
  EXPECT_EQ(V2Code(c.Post("/v2", auth, Form("just some text, not pixels\n", {})), 400),
            "unsupported_image");
  EXPECT_EQ(
      V2Code(c.Post("/v2", auth, R"({"image_base64":"@@not base64@@"})", "application/json"), 400),
      "invalid_base64");
  EXPECT_EQ(
      V2Code(c.Post("/v2", auth, R"({"image_url":"http://127.0.0.1/x.png"})", "application/json"),
             400),
      "image_url_fetch_failed");
  EXPECT_EQ(V2Code(c.Post("/v2", auth, "{not json", "application/json"), 400), "bad_request");
  EXPECT_EQ(V2Code(c.Post("/v2", auth, R"({"size":"preview"})", "application/json"), 400),
            "bad_request");
  // Over the body cap: refused with 413 without the body being processed.
  const std::string huge(45'000'000, '\0');
  auto too_big = c.Post("/v2", auth, huge, "application/octet-stream");
  EXPECT_EQ(V2Code(too_big, 413), "payload_too_large");
  if (too_big) {  // the body's cap, not the image's
    EXPECT_NE(too_big->body.find("The request body is larger than 41000000 bytes"),
              std::string::npos)
        << too_big->body;
  }
  EXPECT_EQ(RemoveBgCode(c.Post("/v1.0/removebg", auth, huge, "application/octet-stream"), 413),
            "payload_too_large");
  // remove.bg fields bgerase does not implement: refused when not at their default.
  EXPECT_EQ(RemoveBgCode(c.Post("/v1.0/removebg", auth,
                                Form(photo, {{"type", "car"}, {"semitransparency", "true"}})),
                         400),
            "unsupported_option");
  EXPECT_EQ(RemoveBgCode(c.Post("/v1.0/removebg", auth,
                                Form(photo, {{"type_level", "2"}, {"size", "preview"}})),
                         400),
            "unsupported_option");
  EXPECT_EQ(RemoveBgCode(c.Post("/v1.0/removebg", auth, Form(photo, {{"bg_color", "nope"}})), 400),
            "invalid_bg_color");
  EXPECT_EQ(V2Code(c.Get("/v2/nothing-here"), 404), "not_found");
  // Every answer, error bodies included, is never sniffed as HTML nor framed.
  auto missing = c.Get("/v2/nothing-here");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->get_header_value("X-Content-Type-Options"), "nosniff");
  EXPECT_EQ(missing->get_header_value("X-Frame-Options"), "DENY");

  // Every answer above was counted, by route and status.
  auto metrics = c.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_EQ(metrics->status, 200);
  EXPECT_NE(metrics->body.find("bgerase_http_requests_total{route=\"/v2\",status=\"422\"} 1"),
            std::string::npos)
      << metrics->body;
  EXPECT_NE(metrics->body.find("bgerase_http_request_duration_seconds_bucket{route=\"/v2\""),
            std::string::npos);
  // The access log names requests by id and key prefix, never the full key.
  const std::string log = server_.log();
  EXPECT_NE(log.find("\"route\":\"/v2\""), std::string::npos);
  EXPECT_EQ(log.find(server_.key()), std::string::npos) << "the full API key reached the log";
}

TEST_F(Api, V2MultipartAndJsonRoundTripWithHeaders) {
  server_.Start();
  auto c = server_.Client();
  const auto auth = server_.Auth();
  const std::string photo = Photo("astronaut.png");  // 512x512, the astronaut fills the middle

  auto res = c.Post("/v2", auth, Form(photo, {}));
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(res->get_header_value("Content-Type"), "image/png");
  EXPECT_EQ(res->get_header_value("X-Request-ID").rfind("req_", 0), 0u);
  EXPECT_FALSE(res->get_header_value("X-Processing-Time-Ms").empty());
  EXPECT_EQ(res->get_header_value("X-Image-Width"), "512");
  EXPECT_EQ(res->get_header_value("X-Image-Height"), "512");
  const int fg_w = std::stoi(res->get_header_value("X-Foreground-Width"));
  const int fg_h = std::stoi(res->get_header_value("X-Foreground-Height"));
  EXPECT_GT(fg_w, 100);
  EXPECT_GT(fg_h, 100);
  EXPECT_LE(std::stoi(res->get_header_value("X-Foreground-Left")) + fg_w, 512);
  EXPECT_LE(std::stoi(res->get_header_value("X-Foreground-Top")) + fg_h, 512);
  VImage cut = Decode(res->body);
  EXPECT_EQ(cut.width(), 512);
  EXPECT_EQ(cut.bands(), 4);
  EXPECT_GT(MeanAlpha(cut, 200, 150, 100, 100), 200) << "the astronaut's body is kept";
  EXPECT_LT(MeanAlpha(cut, 0, 0, 40, 40), 60) << "the corner background is removed";

  // Case-insensitive keys, boolean spellings, jpg on a colour, preview size.
  res = c.Post("/v2", auth,
               Form(photo, {{"Format", "jpeg"},
                            {"BG_COLOR", "#00ff00"},
                            {"size", "preview"},
                            {"crop", "no"},
                            {"despill", "1"}}));
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(res->get_header_value("Content-Type"), "image/jpeg");
  VImage jpg = Decode(res->body);
  EXPECT_EQ(jpg.bands(), 3);
  EXPECT_EQ(jpg.width(), 500);  // 0.25 MP cap on a square
  EXPECT_EQ(res->get_header_value("X-Image-Width"), "500");

  // remove.bg spellings and other forms: bg_colour, crop=on with a percent margin, webp,
  // metadata strip, quality.
  res = c.Post("/v2", auth,
               Form(photo, {{"bg_colour", "white"},
                            {"crop", "on"},
                            {"crop-margin", "10%"},
                            {"format", "webp"},
                            {"metadata", "strip"},
                            {"quality", "80"},
                            {"size", "preview"}}));
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(res->get_header_value("Content-Type"), "image/webp");
  VImage webp = Decode(res->body);
  EXPECT_EQ(webp.width(), std::stoi(res->get_header_value("X-Image-Width")));
  EXPECT_LE(webp.width(), 500) << "cropped to the subject";

  // JSON in, JSON out, with a data URL prefix.
  json req = {{"image_base64", "data:image/png;base64," + Base64(Photo("coffee.png"))},
              {"size", "preview"},
              {"crop", true}};
  res = c.Post("/v2", auth, req.dump(), "application/json");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  json j = json::parse(res->body);
  EXPECT_EQ(j["mime"], "image/png");
  VImage coffee = Decode(Unbase64(j["image_base64"]));
  EXPECT_EQ(coffee.width(), j["width"].get<int>());
  EXPECT_EQ(coffee.height(), j["height"].get<int>());
  EXPECT_LT(coffee.width() * coffee.height(), 250'001);

  // Legacy `image` forces a single-channel mask, answered as `mask`.
  res = c.Post("/v2", auth, json{{"image", Base64(photo)}, {"size", "preview"}}.dump(),
               "application/json");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  j = json::parse(res->body);
  ASSERT_TRUE(j.contains("mask")) << res->body;
  EXPECT_FALSE(j.contains("image_base64"));
  VImage mask = Decode(Unbase64(j["mask"]));
  EXPECT_EQ(mask.bands(), 1);
  EXPECT_EQ(mask.width(), j["width"].get<int>());

  // Async: 202 with an id, the job finishes, its result is the cut-out; unknown ids are 404.
  res = c.Post("/v2/jobs", auth, Form(photo, {{"size", "preview"}}));
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 202) << res->body;
  const std::string id = json::parse(res->body)["id"];
  EXPECT_EQ(res->get_header_value("Location"), "/v2/jobs/" + id);
  const json job = WaitForJob(c, auth, id);
  ASSERT_EQ(job["status"], "succeeded") << job.dump();
  res = c.Get(job["result_url"].get<std::string>(), auth);
  ASSERT_TRUE(res && res->status == 200);
  EXPECT_EQ(res->get_header_value("Content-Type"), "image/png");
  EXPECT_EQ(Decode(res->body).width(), 500);
  EXPECT_EQ(V2Code(c.Get("/v2/jobs/job_doesnotexist", auth), 404), "not_found");
  EXPECT_EQ(V2Code(c.Get("/v2/jobs/" + id), 401), "missing_api_key");
}

TEST_F(Api, RemoveBgClientRequestsWorkUnchanged) {
  server_.Start();
  auto c = server_.Client();
  const std::string photo = Photo("astronaut.png");
  // What the removebg Python client sends: every field, unused ones empty or at their default.
  const httplib::Headers auth = {{"X-Api-Key", server_.key()}};
  auto res = c.Post("/v1.0/removebg", auth,
                    Form(photo, {{"size", "regular"},
                                 {"type", "person"},
                                 {"type_level", "1"},
                                 {"format", "auto"},
                                 {"roi", "0% 0% 100% 100%"},
                                 {"crop", "false"},
                                 {"crop_margin", "0"},
                                 {"scale", "original"},
                                 {"position", "original"},
                                 {"channels", "rgba"},
                                 {"add_shadow", "false"},
                                 {"semitransparency", "true"},
                                 {"bg_color", ""},
                                 {"bg_image_url", ""}}));
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(res->get_header_value("Content-Type"), "image/png");
  EXPECT_EQ(res->get_header_value("X-Width"), "500");
  EXPECT_EQ(res->get_header_value("X-Height"), "500");
  EXPECT_EQ(res->get_header_value("X-Type"), "person");
  EXPECT_EQ(res->get_header_value("X-Credits-Charged"), "0.25");  // remove.bg's price of `regular`
  EXPECT_FALSE(res->has_header("X-RateLimit-Limit"));  // no --rate-limit: no bucket to describe
  EXPECT_FALSE(res->get_header_value("X-Foreground-Width").empty());
  EXPECT_EQ(Decode(res->body).width(), 500);

  // image_file_b64, form-encoded, JSON answer.
  httplib::Headers json_auth = auth;
  json_auth.emplace("Accept", "application/json");
  res = c.Post("/v1.0/removebg", json_auth,
               httplib::Params{
                   {"image_file_b64", Base64(photo)}, {"size", "preview"}, {"bg_color", "white"}});
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  json j = json::parse(res->body);
  ASSERT_TRUE(j["data"].contains("result_b64")) << res->body;
  EXPECT_TRUE(j["data"]["foreground_width"].get<int>() > 0);
  // format=auto with an opaque colour gives jpg.
  EXPECT_EQ(Decode(Unbase64(j["data"]["result_b64"])).bands(), 3);

  // format=zip: color.jpg (opaque foreground colours) and alpha.png (the matte), same size.
  res = c.Post("/v1.0/removebg", auth, Form(photo, {{"format", "zip"}, {"size", "preview"}}));
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(res->get_header_value("Content-Type"), "application/zip");
  std::map<std::string, std::string> entries = StoredZipEntries(res->body);
  ASSERT_EQ(entries.size(), 2u);
  VImage color = Decode(entries["color.jpg"]);
  VImage alpha = Decode(entries["alpha.png"]);
  EXPECT_EQ(color.bands(), 3);
  EXPECT_EQ(alpha.bands(), 1);
  EXPECT_EQ(color.width(), 500);
  EXPECT_EQ(alpha.width(), 500);
  EXPECT_GT(alpha.extract_area(200, 150, 100, 100).avg(), 200) << "the astronaut is opaque";
  EXPECT_EQ(RemoveBgCode(c.Post("/v1.0/removebg", auth,
                                Form(photo, {{"format", "zip"}, {"bg_color", "red"}})),
                         400),
            "unsupported_option");

  // roi: only its region may hold the subject; in pixels of the 512x512 input. Outside the
  // image (or reversed) is a 400 naming the image's size, in both dialects.
  res = c.Post("/v1.0/removebg", auth, Form(photo, {{"roi", "0 0 250 500"}}));
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(res->get_header_value("X-Credits-Charged"), "1");  // full size: one credit
  VImage cut = Decode(res->body);
  EXPECT_EQ(cut[3].extract_area(250, 0, 250, 500).max(), 0);
  EXPECT_GT(cut[3].extract_area(150, 150, 100, 100).avg(), 200) << "the astronaut's left half";
  EXPECT_LE(std::stoi(res->get_header_value("X-Foreground-Left")) +
                std::stoi(res->get_header_value("X-Foreground-Width")),
            250);
  auto refused = c.Post("/v1.0/removebg", auth, Form(photo, {{"roi", "0 0 600 500"}}));
  EXPECT_EQ(RemoveBgCode(refused, 400), "bad_request");
  EXPECT_EQ(refused->get_header_value("X-Credits-Charged"), "0");  // nothing charged for a refusal
  res =
      c.Post("/v2", auth,
             json{{"image_base64", Base64(photo)}, {"roi", "50% 0% 100% 100%"}, {"size", "preview"}}
                 .dump(),
             "application/json");
  ASSERT_TRUE(res && res->status == 200) << (res ? res->body : "");
  VImage v2cut = Decode(Unbase64(json::parse(res->body)["image_base64"]));
  // 512 -> 500 for preview: the region's edge at x = 256 lands at 250, where resampling may
  // leave a trace one pixel deep; left of it nothing.
  EXPECT_EQ(v2cut[3].extract_area(0, 0, 248, 500).max(), 0);
  EXPECT_EQ(V2Code(c.Post("/v2", auth, Form(photo, {{"roi", "300 0 200 500"}})), 400),
            "bad_request");
  EXPECT_EQ(V2Code(c.Post("/v2", auth, Form(photo, {{"roi", "0 0 10"}})), 422), "validation_error");

  // scale + position: the subject fits half the canvas, centred (remove.bg's X-Foreground-*
  // headers say where it went); a scale outside 10%..100% is a 422 naming the range.
  res = c.Post("/v1.0/removebg", auth,
               Form(photo, {{"scale", "50%"}, {"position", "center"}, {"size", "preview"}}));
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  const int fl = std::stoi(res->get_header_value("X-Foreground-Left"));
  const int fw = std::stoi(res->get_header_value("X-Foreground-Width"));
  const int ft = std::stoi(res->get_header_value("X-Foreground-Top"));
  const int fh = std::stoi(res->get_header_value("X-Foreground-Height"));
  EXPECT_LE(std::max(fw, fh), 252) << "half of the 500 px canvas, give or take a pixel";
  EXPECT_GE(std::max(fw, fh), 240);
  EXPECT_NEAR(fl + fw / 2.0, 250, 3);
  EXPECT_NEAR(ft + fh / 2.0, 250, 3);
  EXPECT_EQ(RemoveBgCode(c.Post("/v1.0/removebg", auth, Form(photo, {{"scale", "5%"}})), 422),
            "validation_error");
  // add_shadow: a shadow on the transparent cut-out is partly transparent black beside the
  // subject, where without one there is nothing.
  auto shadowed = c.Post("/v1.0/removebg", auth,
                         Form(photo, {{"scale", "50%"},
                                      {"add_shadow", "true"},
                                      {"shadow_type", "drop"},
                                      {"shadow_opacity", "90"}}));
  ASSERT_TRUE(shadowed && shadowed->status == 200) << (shadowed ? shadowed->body : "");
  auto unshadowed = c.Post("/v1.0/removebg", auth, Form(photo, {{"scale", "50%"}}));
  ASSERT_TRUE(unshadowed && unshadowed->status == 200);
  const VImage with = Decode(shadowed->body)[3], without = Decode(unshadowed->body)[3];
  EXPECT_GT(with.avg(), without.avg() + 0.5);
  EXPECT_LT((with - without).min(), 1) << "a shadow only adds";
  EXPECT_EQ(
      RemoveBgCode(c.Post("/v1.0/removebg", auth, Form(photo, {{"shadow_type", "soft"}})), 422),
      "validation_error");

  auto account = c.Get("/v1.0/account", auth);
  ASSERT_TRUE(account);
  EXPECT_EQ(account->status, 200);
  EXPECT_TRUE(json::parse(account->body)["data"]["attributes"].contains("credits"));
}

size_t FilesUnder(const fs::path& dir) {
  size_t n = 0;
  if (!fs::exists(dir)) return 0;
  for (const auto& e : fs::recursive_directory_iterator(dir)) n += e.is_regular_file() ? 1 : 0;
  return n;
}

json HeldItems(httplib::Client& c, const httplib::Headers& auth) {
  auto res = c.Get("/v2/account/data", auth);
  EXPECT_TRUE(res && res->status == 200);
  return res ? json::parse(res->body)["items"] : json::array();
}

TEST_F(Api, StoreFlagDecidesWhatIsKeptAndRetentionDeletesIt) {
  server_.Start({"--retention", "6s"});
  auto c = server_.Client();
  const auto auth = server_.Auth();
  const std::string photo = Photo("coffee.png");

  auto res = c.Post("/v2", auth, Form(photo, {{"size", "preview"}, {"store", "false"}}));
  ASSERT_TRUE(res && res->status == 200);
  res = c.Post("/v2", auth, Form(photo, {{"size", "preview"}}));
  ASSERT_TRUE(res && res->status == 200);
  EXPECT_EQ(FilesUnder(server_.data() / "blobs"), 0u) << "a plain request stored something";
  // Nor did any of the image reach the database: no 64-byte run of the photo in any file there.
  const std::string probe = photo.substr(photo.size() / 2, 64);
  for (const auto& e : fs::recursive_directory_iterator(server_.data())) {
    if (!e.is_regular_file()) continue;
    EXPECT_EQ(ReadAll(e.path()).find(probe), std::string::npos) << e.path();
  }
  EXPECT_TRUE(HeldItems(c, auth).empty());

  res = c.Post("/v2", auth,
               Form(photo, {{"size", "preview"}, {"store", "yes"}, {"on_behalf_of", "Ann Lee"}}));
  ASSERT_TRUE(res && res->status == 200) << (res ? res->body : "");
  EXPECT_FALSE(res->get_header_value("X-Stored-Item-Id").empty());
  json items = HeldItems(c, auth);
  ASSERT_EQ(items.size(), 2u) << items.dump();  // the input and the result
  for (const auto& it : items) {
    EXPECT_EQ(it["purpose"], "processing");
    EXPECT_TRUE(it["expires_at"].is_string()) << it.dump();
    EXPECT_EQ(it["on_behalf_of"], "Ann Lee");
  }
  EXPECT_EQ(FilesUnder(server_.data() / "blobs"), 2u);

  auto exported = c.Get("/v2/account/export", auth);
  ASSERT_TRUE(exported);
  EXPECT_EQ(exported->status, 200);
  EXPECT_EQ(exported->get_header_value("Content-Type"), "application/zip");
  EXPECT_EQ(exported->body.rfind("PK\x03\x04", 0), 0u);

  // With a 6 s retention the items vanish on their own (the reaper, bounded wait).
  for (int i = 0; i < 300 && !HeldItems(c, auth).empty(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_TRUE(HeldItems(c, auth).empty());
  for (int i = 0; i < 100 && FilesUnder(server_.data() / "blobs") > 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(FilesUnder(server_.data() / "blobs"), 0u);

  // DELETE removes whatever is held now.
  res = c.Post("/v2", auth, Form(photo, {{"size", "preview"}, {"store", "true"}}));
  ASSERT_TRUE(res && res->status == 200);
  EXPECT_EQ(HeldItems(c, auth).size(), 2u);
  auto del = c.Delete("/v2/account/data", auth);
  ASSERT_TRUE(del && del->status == 200);
  EXPECT_EQ(json::parse(del->body)["deleted"], 2);
  EXPECT_TRUE(HeldItems(c, auth).empty());
}

TEST_F(Api, TrainingConsentOptInAndWithdrawal) {
  server_.Start();
  auto c = server_.Client();
  const auto auth = server_.Auth();
  const std::string photo = Photo("coffee.png");

  auto state = c.Get("/v2/account/training-consent", auth);
  ASSERT_TRUE(state && state->status == 200);
  EXPECT_EQ(json::parse(state->body)["opt_in"], false) << "accounts start opted out";

  auto put = c.Put("/v2/account/training-consent", auth, R"({"opt_in": true})", "application/json");
  ASSERT_TRUE(put && put->status == 200) << (put ? put->body : "");
  json j = json::parse(put->body);
  EXPECT_EQ(j["opt_in"], true);
  EXPECT_TRUE(j["changed_at"].is_string());
  auto account = c.Get("/v2/account", auth);
  ASSERT_TRUE(account && account->status == 200);
  EXPECT_EQ(json::parse(account->body)["training_consent"]["opt_in"], true);
  EXPECT_EQ(json::parse(account->body)["account"]["email"], "alice@example.com");

  auto res = c.Post("/v2", auth, Form(photo, {{"size", "preview"}}));
  ASSERT_TRUE(res && res->status == 200);
  json items = HeldItems(c, auth);
  ASSERT_FALSE(items.empty()) << "an opted-in upload enters the training pool";
  for (const auto& it : items) {
    EXPECT_EQ(it["purpose"], "training");
    EXPECT_TRUE(it["expires_at"].is_null());
  }

  put = c.Put("/v2/account/training-consent", auth, R"({"opt_in": false})", "application/json");
  ASSERT_TRUE(put && put->status == 200);
  j = json::parse(put->body);
  EXPECT_EQ(j["opt_in"], false);
  EXPECT_EQ(j["training_objects_deleted"].get<size_t>(), items.size());
  EXPECT_TRUE(HeldItems(c, auth).empty()) << "withdrawal deletes the training items at once";

  res = c.Post("/v2", auth, Form(photo, {{"size", "preview"}}));
  ASSERT_TRUE(res && res->status == 200);
  EXPECT_TRUE(HeldItems(c, auth).empty()) << "opted out again: nothing kept";

  EXPECT_EQ(V2Code(c.Put("/v2/account/training-consent", auth, R"({"opt_in": "maybe"})",
                         "application/json"),
                   422),
            "validation_error");
}

// A 200 x 100 background, red on the left half and blue on the right, as PNG: covering the
// 500 px square of a preview, its middle 100 columns show, red left of x = 250 and blue right.
std::string RedBlueBackground() {
  VImage left = VImage::xyz(200, 100)[0] < 100;
  return imaging::testing::Save(
      left.ifthenelse(255, 0)
          .bandjoin(VImage::black(200, 100))
          .bandjoin(left.ifthenelse(0, 255))
          .cast(VIPS_FORMAT_UCHAR)
          .copy(VImage::option()->set("interpretation", VIPS_INTERPRETATION_sRGB)),
      ".png");
}

// A tiny image host on loopback for image_url, run in the test process.
class ImageHost {
 public:
  explicit ImageHost(const std::string& photo) {
    http_.Get("/astronaut.png", [photo](const httplib::Request&, httplib::Response& res) {
      res.set_content(photo, "image/png");
    });
    http_.Get("/moved", [](const httplib::Request&, httplib::Response& res) {
      res.set_redirect("/astronaut.png");
    });
    http_.Get("/background.png", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(RedBlueBackground(), "image/png");
    });
    port_ = http_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { http_.listen_after_bind(); });
    for (int i = 0; i < 100 && !http_.is_running(); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ~ImageHost() {
    http_.stop();
    thread_.join();
  }
  std::string Url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }

 private:
  httplib::Server http_;
  std::thread thread_;
  int port_ = 0;
};

TEST_F(Api, ImageUrlIsFetchedFollowingRedirectsWhenPrivateUrlsAreAllowed) {
  server_.Start({"--allow-private-urls"});
  ImageHost host(Photo("astronaut.png"));
  auto c = server_.Client();
  const auto auth = server_.Auth();
  auto res =
      c.Post("/v2", auth,
             httplib::MultipartFormDataItems{{"image_url", host.Url("/astronaut.png"), "", ""},
                                             {"size", "preview", "", ""}});
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(Decode(res->body).width(), 500);

  res = c.Post("/v2", auth, json{{"imageUrl", host.Url("/moved")}, {"size", "preview"}}.dump(),
               "application/json");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(json::parse(res->body)["width"], 500);

  res = c.Post("/v1.0/removebg", auth,
               httplib::Params{{"image_url", host.Url("/astronaut.png")}, {"size", "preview"}});
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(res->get_header_value("X-Width"), "500");

  res =
      c.Post("/v2", auth, json{{"image_url", host.Url("/missing.png")}}.dump(), "application/json");
  EXPECT_EQ(V2Code(res, 400), "image_url_fetch_failed");
  EXPECT_NE(res->body.find("404"), std::string::npos) << res->body;
}

// The corners of an opaque preview-sized answer show the red/blue background, with the subject
// (scaled to half the canvas and centred) clear of them.
void ExpectOnRedBlue(const std::string& bytes, const std::string& what) {
  const VImage out = Decode(bytes);
  ASSERT_EQ(out.bands(), 3) << what << ": the background is opaque";
  ASSERT_EQ(out.width(), 500) << what;
  const VImage tl = out.extract_area(0, 0, 80, 80), tr = out.extract_area(420, 0, 80, 80);
  EXPECT_GT(tl[0].avg(), 230) << what;
  EXPECT_LT(tl[2].avg(), 25) << what;
  EXPECT_GT(tr[2].avg(), 230) << what;
  EXPECT_LT(tr[0].avg(), 25) << what;
}

TEST_F(Api, BackgroundImagesFromAFileAUrlOrBase64InBothDialects) {
  server_.Start({"--allow-private-urls"});
  const std::string photo = Photo("astronaut.png");
  ImageHost host(photo);
  auto c = server_.Client();
  const auto auth = server_.Auth();
  const std::string bg = RedBlueBackground();
  // What a remove.bg client sends: a multipart upload with the background as a second file, plus
  // scale, position, shadow and roi.
  httplib::MultipartFormDataItems form = Form(photo, {{"size", "preview"},
                                                      {"format", "auto"},
                                                      {"scale", "50%"},
                                                      {"position", "center"},
                                                      {"add_shadow", "true"},
                                                      {"roi", "0% 0% 100% 100%"}});
  form.push_back({"bg_image_file", bg, "background.png", "image/png"});
  auto res = c.Post("/v1.0/removebg", auth, form);
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(res->get_header_value("Content-Type"), "image/jpeg");  // auto, opaque background
  ExpectOnRedBlue(res->body, "remove.bg multipart bg_image_file");
  // The same as JSON with bg_image_url; and the shadow darkens the background under the subject.
  json body = {{"image_file_b64", Base64(photo)},
               {"bg_image_url", host.Url("/background.png")},
               {"size", "preview"},
               {"scale", "50%"},
               {"position", "center"},
               {"format", "png"}};
  res = c.Post("/v1.0/removebg", auth, body.dump(), "application/json");
  ASSERT_TRUE(res && res->status == 200) << (res ? res->body : "");
  ExpectOnRedBlue(res->body, "remove.bg JSON bg_image_url");
  body["add_shadow"] = true;
  body["shadow_opacity"] = 90;
  auto dark = c.Post("/v1.0/removebg", auth, body.dump(), "application/json");
  ASSERT_TRUE(dark && dark->status == 200) << (dark ? dark->body : "");
  ExpectOnRedBlue(dark->body, "remove.bg JSON bg_image_url + add_shadow");
  EXPECT_LT(Decode(dark->body).avg(), Decode(res->body).avg() - 0.5) << "the shadow darkens";
  // v2: multipart bg_image_file, JSON bg_image_base64 and bg_image_url, and async jobs by URL.
  httplib::MultipartFormDataItems v2form =
      Form(photo, {{"size", "preview"}, {"scale", "50%"}, {"format", "jpg"}});
  v2form.push_back({"bg_image_file", bg, "background.png", "image/png"});
  res = c.Post("/v2", auth, v2form);
  ASSERT_TRUE(res && res->status == 200) << (res ? res->body : "");
  ExpectOnRedBlue(res->body, "v2 multipart bg_image_file");
  for (const json& v2 : {json{{"bg_image_base64", Base64(bg)}},
                         json{{"bg_image_url", host.Url("/background.png")}}}) {
    json request = v2;
    request["image_base64"] = Base64(photo);
    request["size"] = "preview";
    request["scale"] = "50%";
    res = c.Post("/v2", auth, request.dump(), "application/json");
    ASSERT_TRUE(res && res->status == 200) << (res ? res->body : "");
    ExpectOnRedBlue(Unbase64(json::parse(res->body)["image_base64"]), v2.dump());
  }
  res = c.Post("/v2/jobs", auth,
               json{{"image_base64", Base64(photo)},
                    {"bg_image_url", host.Url("/background.png")},
                    {"size", "preview"},
                    {"scale", "50%"},
                    {"format", "png"}}
                   .dump(),
               "application/json");
  ASSERT_TRUE(res && res->status == 202) << (res ? res->body : "");
  const std::string job_id = json::parse(res->body)["id"];
  EXPECT_EQ(WaitForJob(c, auth, job_id)["status"], "succeeded");
  auto result = c.Get("/v2/jobs/" + job_id + "/result", auth);
  ASSERT_TRUE(result && result->status == 200);
  ExpectOnRedBlue(result->body, "v2 job bg_image_url");
  EXPECT_EQ(V2Code(c.Post("/v2/jobs", auth, v2form), 400), "bad_request");

  // Refusals: two backgrounds (naming both, in both dialects), a background that cannot be
  // fetched or is not an image, and zip with a background.
  form = Form(photo, {{"bg_color", "white"}, {"bg_image_url", host.Url("/background.png")}});
  res = c.Post("/v1.0/removebg", auth, form);
  EXPECT_EQ(RemoveBgCode(res, 400), "bad_request");
  EXPECT_NE(res->body.find("bg_color and bg_image_url"), std::string::npos) << res->body;
  res = c.Post("/v2", auth, form);
  EXPECT_EQ(V2Code(res, 400), "bad_request");
  EXPECT_NE(res->body.find("bg_color and bg_image_url"), std::string::npos) << res->body;
  res = c.Post("/v1.0/removebg", auth, Form(photo, {{"bg_image_url", host.Url("/missing.png")}}));
  EXPECT_EQ(RemoveBgCode(res, 400), "image_url_fetch_failed");
  EXPECT_NE(res->body.find("bg_image_url"), std::string::npos) << res->body;
  form = Form(photo, {});
  form.push_back({"bg_image_file", "not an image", "background.png", "image/png"});
  res = c.Post("/v2", auth, form);
  EXPECT_EQ(V2Code(res, 400), "unsupported_image");
  EXPECT_NE(res->body.find("background image"), std::string::npos) << res->body;
  EXPECT_EQ(
      RemoveBgCode(
          c.Post("/v1.0/removebg", auth,
                 Form(photo, {{"format", "zip"}, {"bg_image_url", host.Url("/background.png")}})),
          400),
      "unsupported_option");
}

TEST_F(Api, AMonthlyCreditAllowanceIsChargedAndThenRefusedWith402) {
  server_.Start();
  auto c = server_.Client();
  const auto auth = server_.Auth();
  const std::string photo = Photo("astronaut.png");
  auto account = [&] {
    auto res = c.Get("/v2/account", auth);
    EXPECT_TRUE(res && res->status == 200);
    return res ? json::parse(res->body) : json();
  };
  // BackgroundErase's account shape, unlimited by default.
  json a = account();
  EXPECT_EQ(a["status"], "ok");
  EXPECT_EQ(a["account"]["email"], "alice@example.com");
  EXPECT_EQ(a["account"]["billing_model"], "unlimited");
  EXPECT_EQ(a["account"]["usage_unit"], "credits");
  EXPECT_FALSE(a["api_key"]["fingerprint"].get<std::string>().empty());
  EXPECT_TRUE(a["credits"]["unlimited"].get<bool>());
  auto rb = c.Get("/v1.0/account", auth);
  ASSERT_TRUE(rb && rb->status == 200);
  EXPECT_EQ(json::parse(rb->body)["data"]["attributes"]["credits"]["total"], 1000000);

  // 1.25 credits a month: a preview (0.25) and a full-size image (1) fit; a failed request is
  // not charged; then both dialects answer 402 and nothing is processed, kept or counted.
  EXPECT_NE(server_.Admin("set-credits alice@example.com 1.25").find("1.25 credits a month"),
            std::string::npos);
  auto res = c.Post("/v2", auth, Form(photo, {{"size", "preview"}}));
  ASSERT_TRUE(res && res->status == 200);
  EXPECT_EQ(res->get_header_value("X-Credits-Charged"), "0.25");
  EXPECT_EQ(V2Code(c.Post("/v2", auth, Form("not an image", {})), 400), "unsupported_image");
  res = c.Post("/v1.0/removebg", auth, Form(photo, {{"size", "full"}}));
  ASSERT_TRUE(res && res->status == 200);
  EXPECT_EQ(res->get_header_value("X-Credits-Charged"), "1");
  a = account();
  EXPECT_EQ(a["account"]["billing_model"], "monthly_allowance");
  EXPECT_EQ(a["credits"]["spent"], 1.25);
  EXPECT_EQ(a["credits"]["remaining"], 0);
  const auto images_before = a["usage"]["images_total"].get<int>();
  EXPECT_EQ(images_before, 2);
  const size_t held_before = HeldItems(c, auth).size();
  res = c.Post("/v2", auth, Form(photo, {{"size", "preview"}, {"store", "true"}}));
  EXPECT_EQ(V2Code(res, 402), "insufficient_credits");
  EXPECT_EQ(res->get_header_value("X-Credits-Charged"), "0");
  res = c.Post("/v1.0/removebg", auth, Form(photo, {{"size", "preview"}}));
  EXPECT_EQ(RemoveBgCode(res, 402), "insufficient_credits");
  EXPECT_EQ(res->get_header_value("X-Credits-Charged"), "0");
  EXPECT_EQ(V2Code(c.Post("/v2/jobs", auth, Form(photo, {{"size", "preview"}})), 402),
            "insufficient_credits");
  a = account();
  EXPECT_EQ(a["usage"]["images_total"], images_before) << "a refused request is not counted";
  EXPECT_EQ(a["credits"]["spent"], 1.25);
  EXPECT_EQ(HeldItems(c, auth).size(), held_before) << "nothing is kept for a refused request";
  rb = c.Get("/v1.0/account", auth);
  ASSERT_TRUE(rb && rb->status == 200);
  EXPECT_EQ(json::parse(rb->body)["data"]["attributes"]["credits"]["total"], 0);
  // More allowance, and the same request goes through.
  server_.Admin("set-credits alice@example.com unlimited");
  res = c.Post("/v1.0/removebg", auth, Form(photo, {{"size", "preview"}}));
  ASSERT_TRUE(res && res->status == 200);
}

TEST_F(Api, RateLimitAnswers429WithRetryAfterPerKey) {
  // Half a request per second, bursts of one: the second request in a row is over the limit.
  server_.Start({"--rate-limit", "0.5"});
  auto c = server_.Client();
  auto first = c.Get("/v2/account", server_.Auth());
  ASSERT_TRUE(first);
  EXPECT_EQ(first->status, 200);
  // Every answer to a keyed request carries the bucket: a burst of one, none left after it,
  // full again within 2 s (at 0.5/s) of a Unix-time "now".
  const auto unix_now = std::chrono::duration_cast<std::chrono::seconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
  EXPECT_EQ(first->get_header_value("X-RateLimit-Limit"), "1");
  EXPECT_EQ(first->get_header_value("X-RateLimit-Remaining"), "0");
  const long long reset = std::stoll(first->get_header_value("X-RateLimit-Reset"));
  EXPECT_GE(reset, unix_now);
  EXPECT_LE(reset, unix_now + 3);
  int limited = 0;
  for (int i = 0; i < 3; ++i) {
    auto res = c.Get("/v2/account", server_.Auth());
    ASSERT_TRUE(res);
    EXPECT_EQ(res->get_header_value("X-RateLimit-Limit"), "1");
    if (res->status == 200) continue;
    EXPECT_EQ(V2Code(res, 429), "rate_limited");
    EXPECT_GE(std::stoi(res->get_header_value("Retry-After")), 1);
    EXPECT_EQ(res->get_header_value("X-RateLimit-Remaining"), "0");
    ++limited;
  }
  EXPECT_GE(limited, 1);
  auto rb = c.Get("/v1.0/account", server_.Auth());
  ASSERT_TRUE(rb);
  if (rb->status != 200) {
    EXPECT_EQ(RemoveBgCode(rb, 429), "rate_limited");
  }
  // Unauthenticated health checks are not rate limited, and say nothing of any bucket.
  for (int i = 0; i < 3; ++i) {
    auto h = c.Get("/v2/health");
    ASSERT_TRUE(h);
    EXPECT_EQ(h->status, 200);
    EXPECT_FALSE(h->has_header("X-RateLimit-Limit"));
  }
}

TEST_F(Api, OverloadAnswers503WithRetryAfterAndCompletesEveryAcceptedRequest) {
  // One worker, one waiting slot: at most two requests are accepted at a time.
  server_.Start({"--workers", "1", "--max-queue", "1"});
  const std::string photo = Photo("astronaut.png");
  constexpr int kClients = 8;
  std::vector<int> status(kClients, 0);
  std::vector<std::string> retry_after(kClients), bodies(kClients);
  std::vector<std::thread> threads;
  for (int i = 0; i < kClients; ++i)
    threads.emplace_back([&, i] {
      auto c = server_.Client();
      auto res = c.Post("/v2", server_.Auth(), Form(photo, {}));
      if (!res) return;
      status[i] = res->status;
      retry_after[i] = res->get_header_value("Retry-After");
      bodies[i] = res->body;
    });
  for (auto& t : threads) t.join();
  int ok = 0, overloaded = 0;
  for (int i = 0; i < kClients; ++i) {
    if (status[i] == 200) {
      ++ok;
      EXPECT_EQ(Decode(bodies[i]).width(), 512);
    } else {
      EXPECT_EQ(status[i], 503) << "only 503 may answer overload: " << bodies[i];
      if (status[i] != 503) continue;
      ++overloaded;
      EXPECT_EQ(json::parse(bodies[i])["error"]["code"], "overloaded");
      EXPECT_FALSE(retry_after[i].empty());
      EXPECT_GE(std::stoi(retry_after[i]), 1);
    }
  }
  EXPECT_GE(ok, 1);
  EXPECT_GE(overloaded, 1) << "8 concurrent requests against 1 worker + 1 slot";
  EXPECT_EQ(ok + overloaded, kClients);

  // Graceful shutdown: a request in flight when SIGTERM arrives is still answered.
  int late_status = 0;
  std::thread late([&] {
    auto c = server_.Client();
    auto res = c.Post("/v2", server_.Auth(), Form(photo, {}));
    if (res) late_status = res->status;
  });
  bool running = false;
  for (int i = 0; i < 600 && !running; ++i) {
    auto m = server_.Client().Get("/metrics");
    running = m && m->body.find("bgerase_queue_running 1") != std::string::npos;
    if (!running) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_TRUE(running) << "the late request never reached a worker";
  server_.Stop();  // SIGTERM; asserts exit status 0
  late.join();
  EXPECT_EQ(late_status, 200) << "the in-flight request was dropped on shutdown";
}

// Sends `body_bytes` of 'a' as a chunked body over a raw socket (1 MB chunks, writes give up
// after 5 s: a server that has stopped reading must not block the test) and returns the status
// line of the answer, or "" when none came; `sent` gets the body bytes written.
std::string RawChunkedRequest(int port, const std::string& method, const std::string& path,
                              const std::string& headers, std::size_t body_bytes,
                              std::size_t* sent) {
  *sent = 0;
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return "";
  }
  auto put = [&](const std::string& s) {
    return send(fd, s.data(), s.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(s.size());
  };
  bool ok = put(method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" + headers +
                "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n");
  const std::string chunk(std::min<std::size_t>(body_bytes, 1 << 20), 'a');
  char size_line[32];
  std::snprintf(size_line, sizeof size_line, "%zx\r\n", chunk.size());
  while (ok && *sent < body_bytes) {
    ok = put(size_line) && put(chunk) && put("\r\n");
    if (ok) *sent += chunk.size();
  }
  if (ok) put("0\r\n\r\n");
  std::string answer;
  char buf[4096];
  for (ssize_t n; (n = recv(fd, buf, sizeof buf, 0)) > 0;) answer.append(buf, n);
  close(fd);
  return answer.substr(0, answer.find("\r\n"));
}

// After hostile input: the server still answers, and the account's consent is as it was (off).
void ExpectUnharmed(const TestServer& server) {
  auto c = server.Client();
  auto consent = c.Get("/v2/account/training-consent", server.Auth());
  ASSERT_TRUE(consent && consent->status == 200);
  EXPECT_EQ(json::parse(consent->body)["opt_in"], false);
  auto health = c.Get("/v2/health");
  ASSERT_TRUE(health) << "the server survived";
  EXPECT_EQ(health->status, 200);
}

// httplib caps bodies by Content-Length only: a chunked body must hit the same cap while it is read
// (not after 45 MB sit in memory), and routes with small bodies refuse chunked ones outright.
TEST_F(Api, ChunkedBodiesAreCappedWhileReadingAndSmallRoutesNeedALength) {
  server_.Start();
  const std::string key = "x-api-key: " + server_.key() + "\r\n";
  std::size_t sent = 0;
  const std::string big = RawChunkedRequest(
      server_.port(), "POST", "/v2", key + "Content-Type: application/x-www-form-urlencoded\r\n",
      45u << 20, &sent);
  EXPECT_EQ(big, "HTTP/1.1 413 Payload Too Large") << "sent " << sent;
  // The access log counts what was read of it (a chunked body has no Content-Length to log).
  bool logged = false;
  std::istringstream lines(server_.log());
  for (std::string line; std::getline(lines, line);) {
    const json j = json::parse(line, nullptr, false);
    if (!j.is_object() || j.value("route", "") != "/v2" || j.value("status", 0) != 413) continue;
    logged = true;
    EXPECT_GT(j.value("bytes_in", std::uint64_t{0}), 41'000'000u) << line;
  }
  EXPECT_TRUE(logged) << server_.log();
  const std::string small =
      RawChunkedRequest(server_.port(), "PUT", "/v2/account/training-consent",
                        key + "Content-Type: application/json\r\n", 16, &sent);
  EXPECT_EQ(small, "HTTP/1.1 411 Length Required");
  ExpectUnharmed(server_);
}

// The multipart shapes real clients send, each in both dialects: a widely used Node client ends
// the body with the close delimiter and no CRLF (RFC 2046 makes it optional), others add a
// preamble and epilogue, quote the boundary, use 70 characters of dashes and digits, put a
// charset before the boundary, leave out part Content-Types, name the file with filename*, or
// send the body chunked. Then the malformed and abusive shapes, refused with bad_request.
TEST_F(Api, RealWorldMultipartShapesInBothDialects) {
  server_.Start();
  auto c = server_.Client();
  const auto auth = server_.Auth();
  const std::string photo = Photo("astronaut.png");  // 512x512
  struct Shape {
    std::string name, content_type, body;
    bool chunked = false;
  };
  auto body = [&](const std::string& b, const std::string& image_headers,
                  const std::string& size_headers = "") {
    return "--" + b + "\r\nContent-Disposition: form-data; name=\"size\"\r\n" + size_headers +
           "\r\npreview\r\n--" + b + "\r\n" + image_headers + "\r\n" + photo + "\r\n--" + b + "--";
  };
  const std::string file =
      "Content-Disposition: form-data; name=\"image_file\"; filename=\"c.png\"\r\n";
  const std::string png = "Content-Type: image/png\r\n";
  const std::string dashes = std::string(40, '-') + "123456789012345678901234567890";
  ASSERT_EQ(dashes.size(), 70u);
  const std::vector<Shape> shapes = {
      {"no CRLF after the close delimiter", "multipart/form-data; boundary=b0",
       body("b0", file + png)},
      {"preamble and epilogue", "multipart/form-data; boundary=b1",
       "This is a preamble.\r\n" + body("b1", file + png) + "\r\nThis is an epilogue.\r\n"},
      {"quoted boundary", "multipart/form-data; boundary=\"b2:quoted=yes\"",
       body("b2:quoted=yes", file + png) + "\r\n"},
      {"70-character boundary", "multipart/form-data; boundary=" + dashes,
       body(dashes, file + png) + "\r\n"},
      {"charset parameter", "multipart/form-data; charset=UTF-8; boundary=b4",
       body("b4", file + png, "Content-Type: text/plain; charset=UTF-8\r\n") + "\r\n"},
      {"parts without Content-Type", "multipart/form-data; boundary=b5", body("b5", file) + "\r\n"},
      {"filename*", "multipart/form-data; boundary=b6",
       body("b6",
            "Content-Disposition: form-data; name=\"image_file\"; "
            "filename*=UTF-8''caf%C3%A9.png\r\n" +
                png)},
      {"chunked", "multipart/form-data; boundary=b7", body("b7", file + png), true},
  };
  for (const std::string path : {"/v2", "/v1.0/removebg"}) {
    for (const auto& shape : shapes) {
      SCOPED_TRACE(path + ": " + shape.name);
      httplib::Result res = [&] {
        if (!shape.chunked) return c.Post(path, auth, shape.body, shape.content_type);
        return c.Post(
            path, auth,
            [&](std::size_t offset, httplib::DataSink& sink) {
              if (offset < shape.body.size()) {
                sink.write(shape.body.data() + offset,
                           std::min<std::size_t>(65536, shape.body.size() - offset));
              } else {
                sink.done();
              }
              return true;
            },
            shape.content_type);
      }();
      ASSERT_TRUE(res);
      ASSERT_EQ(res->status, 200) << res->body;
      EXPECT_EQ(res->get_header_value("Content-Type"), "image/png");
      const VImage cut = Decode(res->body);
      EXPECT_EQ(cut.bands(), 4);
      EXPECT_EQ(cut.width(), 500) << "the size field was read: preview caps at 0.25 MP";
    }
  }

  // Refused shapes, in both dialects' error forms.
  std::string many;
  for (int i = 0; i < 101; ++i)
    many += "--m\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\nx\r\n";
  const std::vector<std::pair<std::string, std::string>> refused = {
      {"multipart/form-data; boundary=n", body("n", file + png).substr(0, 5000)},  // no end
      {"multipart/form-data; boundary=" + dashes + "7", body(dashes + "7", file + png)},
      {"multipart/form-data; boundary=m", many + "--m--"},
      {"multipart/form-data; boundary=o",
       "--o\r\nContent-Disposition: form-data; name=\"image_file\"\r\nContent-Type: "
       "multipart/mixed; boundary=i\r\n\r\n--i\r\n\r\nx\r\n--i--\r\n--o--"},
  };
  for (const auto& [type, bad] : refused) {
    SCOPED_TRACE(type);
    EXPECT_EQ(V2Code(c.Post("/v2", auth, bad, type), 400), "bad_request");
    EXPECT_EQ(RemoveBgCode(c.Post("/v1.0/removebg", auth, bad, type), 400), "bad_request");
  }
  ExpectUnharmed(server_);
}

// Hostile bodies any key holder can send (issue: a 100,000-deep opt_in crashed the server through
// nlohmann's recursive dump): JSON nested past the cap is refused before anything walks it, an
// echoed value is capped, and forms with tens of thousands of fields are refused, not walked.
TEST_F(Api, HostileJsonAndFieldFloodsAreRefusedWithoutHarm) {
  server_.Start();
  auto c = server_.Client();
  const auto auth = server_.Auth();
  auto nested = [](int depth, const std::string& key) {
    return "{\"" + key + "\": " + std::string(depth, '[') + std::string(depth, ']') + "}";
  };
  for (int depth : {17, 10'000, 100'000}) {
    SCOPED_TRACE(depth);
    auto res =
        c.Put("/v2/account/training-consent", auth, nested(depth, "opt_in"), "application/json");
    EXPECT_EQ(V2Code(res, 400), "bad_request");
    ASSERT_TRUE(res);
    EXPECT_NE(res->body.find("deeper than 16"), std::string::npos) << res->body;
    EXPECT_EQ(V2Code(c.Post("/v2", auth, nested(depth, "image_base64"), "application/json"), 400),
              "bad_request");
    EXPECT_EQ(RemoveBgCode(c.Post("/v1.0/removebg", auth, nested(depth, "image_file_b64"),
                                  "application/json"),
                           400),
              "bad_request");
  }
  // At the cap (16 levels, the object's included) it is parsed, and the 422 echoes at most 256
  // bytes of the value.
  auto res = c.Put("/v2/account/training-consent", auth,
                   "{\"opt_in\": " + std::string(15, '[') + "\"" + std::string(50'000, 'x') + "\"" +
                       std::string(15, ']') + "}",
                   "application/json");
  EXPECT_EQ(V2Code(res, 422), "validation_error");
  ASSERT_TRUE(res);
  EXPECT_LT(res->body.size(), 2000u);
  res = c.Put("/v2/account/training-consent", auth, "{\"opt_in\": [[[1]]]}", "application/json");
  EXPECT_EQ(V2Code(res, 422), "validation_error");

  // 40,000 empty fields (80 KB) and 101 real ones: refused by count, in every body form.
  std::string flood;
  for (int i = 0; i < 40'000; ++i) flood += "a&";
  std::string many = "image_url=x";
  for (int i = 0; i < 101; ++i) many += "&f" + std::to_string(i) + "=1";
  for (const std::string& form : {flood, many}) {
    res = c.Post("/v2", auth, form, "application/x-www-form-urlencoded");
    EXPECT_EQ(V2Code(res, 400), "bad_request");
    ASSERT_TRUE(res);
    EXPECT_LT(res->body.size(), 2000u);
  }
  json wide = json::object();
  for (int i = 0; i < 101; ++i) wide["f" + std::to_string(i)] = 1;
  EXPECT_EQ(V2Code(c.Post("/v2", auth, wide.dump(), "application/json"), 400), "bad_request");

  // Duplicate JSON keys are seen, as multipart and form duplicates are (finding 6): two images
  // break the one-image rule, a repeated option with two values is a 422.
  const std::string b64 = Base64(Photo("coffee.png"));
  res =
      c.Post("/v2", auth, "{\"image_base64\": \"" + b64 + "\", \"image_base64\": \"" + b64 + "\"}",
             "application/json");
  EXPECT_EQ(V2Code(res, 400), "bad_request");
  res = c.Post("/v2", auth,
               "{\"image_base64\": \"" + b64 + "\", \"format\": \"png\", \"format\": \"jpg\"}",
               "application/json");
  EXPECT_EQ(V2Code(res, 422), "validation_error");
  ExpectUnharmed(server_);
}

// Start-up: the server listens at once, but until the model is loaded health answers 503 and a
// removal is refused with not_ready and Retry-After — never a hang, never a half-loaded model.
TEST_F(Api, HealthSays503AndRemovalsAreRefusedUntilTheModelIsLoaded) {
  server_.Start({}, nullptr, /*wait_ready=*/false);
  auto c = server_.Client();
  const std::string photo = Photo("astronaut.png");
  int starting = 0;
  for (int i = 0; i < 6000; ++i) {
    auto health = c.Get("/v2/health");
    ASSERT_TRUE(health);
    if (health->status == 200) break;
    ++starting;
    EXPECT_EQ(health->status, 503);
    const json h = json::parse(health->body);
    EXPECT_EQ(h["status"], "starting");
    EXPECT_EQ(h["model"]["loaded"], false);
    EXPECT_EQ(h["store"]["startup_purge_done"], true);
    if (starting == 1) {
      auto res = c.Post("/v2", server_.Auth(), Form(photo, {}));
      ASSERT_TRUE(res);
      if (res->status != 200) {  // the model may have finished loading in between
        EXPECT_EQ(V2Code(res, 503), "not_ready");
        EXPECT_FALSE(res->get_header_value("Retry-After").empty());
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  // Loading the model takes seconds; polling every 10 ms from the moment it listens sees it.
  EXPECT_GT(starting, 0);
  auto ready = c.Get("/v2/health");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 200);
  auto res = c.Post("/v2", server_.Auth(), Form(photo, {{"size", "preview"}}));
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200) << res->body;
}

// Usage is counted in the database per day: it survives a restart.
TEST_F(Api, UsageCountsSurviveARestart) {
  server_.Start();
  auto c = server_.Client();
  const std::string photo = Photo("coffee.png");
  for (int i = 0; i < 2; ++i) {
    auto res = c.Post("/v2", server_.Auth(), Form(photo, {{"size", "preview"}}));
    ASSERT_TRUE(res && res->status == 200);
  }
  server_.Stop();
  server_.Start();
  auto res = server_.Client().Get("/v2/account", server_.Auth());
  ASSERT_TRUE(res && res->status == 200);
  const json usage = json::parse(res->body)["usage"];
  EXPECT_EQ(usage["images_total"], 2);
  ASSERT_EQ(usage["daily"].size(), 30u);
  EXPECT_EQ(usage["daily"].back()["images"], 2);
  EXPECT_EQ(usage["daily"].front()["images"], 0);
}

// Two replicas on one database: a job accepted by a replica that runs no jobs is claimed and run
// by the other, and its result is served by either.
TEST_F(Api, JobAcceptedByOneReplicaIsRunByAnother) {
  server_.Start({"--no-jobs"});
  auto front = server_.Client();
  auto res = front.Post("/v2/jobs", server_.Auth(),
                        Form(Photo("astronaut.png"), {{"size", "preview"}, {"format", "webp"}}));
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 202) << res->body;
  const std::string id = json::parse(res->body)["id"];
  // The owner opts in while the job waits: the image was uploaded opted out, so it must not
  // reach the training pool when the job runs later.
  res = front.Put("/v2/account/training-consent", server_.Auth(), R"({"opt_in": true})",
                  "application/json");
  ASSERT_TRUE(res && res->status == 200);
  TestServer worker;
  worker.Start({}, &server_);
  const json job = WaitForJob(front, server_.Auth(), id);
  ASSERT_EQ(job["status"], "succeeded") << job.dump();
  for (auto* replica : {&server_, &worker}) {
    auto result = replica->Client().Get("/v2/jobs/" + id + "/result", server_.Auth());
    ASSERT_TRUE(result && result->status == 200);
    EXPECT_EQ(result->get_header_value("Content-Type"), "image/webp");
    EXPECT_EQ(Decode(result->body).bands(), 4);
  }
  // The worker ran it: the front replica ran no inference at all.
  auto metrics = front.Get("/metrics");
  ASSERT_TRUE(metrics && metrics->status == 200);
  EXPECT_NE(metrics->body.find("bgerase_inference_duration_seconds_count 0"), std::string::npos)
      << metrics->body;
  auto worker_metrics = worker.Client().Get("/metrics");
  ASSERT_TRUE(worker_metrics);
  EXPECT_EQ(worker_metrics->body.find("bgerase_inference_duration_seconds_count 0"),
            std::string::npos);
  // Input and result are held for the owner with an expiry, like any stored item — and nothing
  // for training.
  auto data = front.Get("/v2/account/data", server_.Auth());
  ASSERT_TRUE(data && data->status == 200);
  const json items = json::parse(data->body)["items"];
  ASSERT_EQ(items.size(), 2u) << items.dump();
  for (const auto& item : items) {
    EXPECT_FALSE(item["expires_at"].is_null());
    EXPECT_EQ(item["purpose"], "processing");
  }
  worker.Stop();
}

// docs/reference/operations.md: replicas sharing one PostgreSQL. A key made by `admin` works on
// both; consent set through one holds on the other; a job accepted by a replica that runs no jobs
// is run by the other; what one stores the other lists and serves; withdrawal through either
// deletes the training copies; and no image touches either replica's data folder.
TEST_F(Api, PostgresReplicasShareKeysConsentDataAndJobs) {
  store::testutil::PgTestDb db;
  ASSERT_FALSE(db.url().empty());
  server_.UseDatabase(db.url());
  server_.Start({"--no-jobs"});
  TestServer worker;
  worker.Start({}, &server_);
  auto front = server_.Client();
  auto back = worker.Client();
  const auto auth = server_.Auth();

  auto res =
      front.Put("/v2/account/training-consent", auth, R"({"opt_in": true})", "application/json");
  ASSERT_TRUE(res && res->status == 200) << (res ? res->body : "");
  res = back.Get("/v2/account/training-consent", auth);
  ASSERT_TRUE(res && res->status == 200);
  EXPECT_EQ(json::parse(res->body)["opt_in"], true);

  res = front.Post("/v2/jobs", auth, Form(Photo("astronaut.png"), {{"size", "preview"}}));
  ASSERT_TRUE(res && res->status == 202) << (res ? res->body : "");
  const std::string id = json::parse(res->body)["id"];
  const json job = WaitForJob(front, auth, id);
  ASSERT_EQ(job["status"], "succeeded") << job.dump();
  res = front.Get("/v2/jobs/" + id + "/result", auth);
  ASSERT_TRUE(res && res->status == 200);
  EXPECT_EQ(Decode(res->body).bands(), 4);

  res = back.Post("/v2", auth, Form(Photo("coffee.png"), {{"size", "preview"}, {"store", "true"}}));
  ASSERT_TRUE(res && res->status == 200) << (res ? res->body : "");
  const std::string stored_item = res->get_header_value("X-Stored-Item-Id");
  EXPECT_FALSE(stored_item.empty());

  auto listed = [&](httplib::Client& c) {
    auto r = c.Get("/v2/account/data", auth);
    EXPECT_TRUE(r && r->status == 200);
    return r ? json::parse(r->body)["items"] : json::array();
  };
  int processing = 0, training = 0;
  bool saw_stored_item = false;
  for (const auto& item : listed(front)) {
    if (item["purpose"] == "processing") {
      ++processing;
      EXPECT_FALSE(item["expires_at"].is_null());
    } else {
      ++training;
      EXPECT_TRUE(item["expires_at"].is_null());
    }
    saw_stored_item = saw_stored_item || item["item_id"] == stored_item;
  }
  EXPECT_EQ(processing, 4);  // the job's input and result, the stored upload and its result
  EXPECT_EQ(training, 4);    // both uploads were made while opted in: input + mask each
  EXPECT_TRUE(saw_stored_item);

  res = front.Get("/v2/account", auth);
  ASSERT_TRUE(res && res->status == 200);
  EXPECT_EQ(json::parse(res->body)["usage"]["images_total"], 2);

  res = back.Put("/v2/account/training-consent", auth, R"({"opt_in": false})", "application/json");
  ASSERT_TRUE(res && res->status == 200);
  for (const auto& item : listed(front)) EXPECT_EQ(item["purpose"], "processing");

  // Everything lives in PostgreSQL: no blob, no database file in either replica's folder.
  std::error_code ec;
  for (const auto& e : fs::recursive_directory_iterator(server_.data(), ec))
    EXPECT_FALSE(e.is_regular_file()) << e.path();
  worker.Stop();
}

}  // namespace
}  // namespace bgerase::api::testing
