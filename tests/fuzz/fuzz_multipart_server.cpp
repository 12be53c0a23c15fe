// multipart/form-data bodies as the server reads them: the Content-Type header through
// MultipartBoundary, the body through api::GatherFields with V2ImageKeys() or
// RemoveBgImageKeys(), then what each route does next (MapRemoveBgFields for remove.bg,
// ParseOptions, ResolveImage short of fetching a URL). Input: a flags byte (bit 0: remove.bg's
// keys; bit 1: the Content-Type header is the input's first line, else it is built from a
// boundary of length byte-1 as in fuzz_multipart), then the body.
// Invariants:
// - every refusal, at every step, is a catalogue code (LookupError(code).code == code);
// - an accepted body is exactly its parts (ParseMultipart's, read independently): each part
//   named by an image key counts as one image when non-empty and is dropped when empty (v2's
//   legacy `image` adds channels=alpha), every other part is one field with its name and content
//   unchanged, in order; so fields + images stay within kMaxFormParts and no field is longer
//   than the body;
// - ResolveImage accepts only a request with exactly one image, and then yields its bytes.
#include <string>
#include <utility>

#include "api/base64.h"
#include "api/multipart.h"
#include "api/request_fields.h"
#include "fuzz_driver.h"

using namespace bgerase::api;  // NOLINT
using bgerase::removal::NormalizeOptionKey;
using bgerase::removal::OptionFields;

namespace {

bool Catalogued(const std::string& code) {
  return LookupError(code).code == code;
}

std::string Part(const std::string& b, const std::string& name, const std::string& content,
                 const std::string& extra = "") {
  return "--" + b + "\r\nContent-Disposition: form-data; name=\"" + name + "\"" + extra +
         "\r\n\r\n" + content + "\r\n";
}

}  // namespace

std::vector<std::string> FuzzSeeds() {
  const std::string b = "XbOuNdArY";
  const std::string flat = std::string(1, static_cast<char>(b.size())) + b;
  const std::string file = "; filename=\"cut.png\"\r\nContent-Type: image/png";
  return {
      // remove.bg: one file, its options, empty unused fields
      std::string(1, '\x01') + flat + Part(b, "image_file", "\x89PNG\r\n\x1a\n", file) +
          Part(b, "size", "auto") + Part(b, "image_url", "") + Part(b, "format", "zip") +
          Part(b, "bg_color", "") + "--" + b + "--",
      // v2: the legacy base64 image and a second image
      std::string(1, '\x00') + flat + Part(b, "image", "aGVsbG8=") +
          Part(b, "Image-File", "raw", file) + Part(b, "channels", "rgba") + "--" + b + "--\r\n",
      // header from the first line: quoted boundary, mixed case
      std::string(1, '\x02') + "Multipart/Form-Data; charset=utf-8; Boundary=\"a b\"\n" +
          Part("a b", "image_base64", "iVBORw0KGgo=") + Part("a b", "crop", "true") + "--a b--",
      std::string(1, '\x03') + "multipart/form-data; boundary=zz\n" +
          Part("zz", "image_file_b64", "QUJD") + Part("zz", "scale", "50%") + "--zz--",
  };
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const bool removebg = data[0] & 1;
  const std::string in(reinterpret_cast<const char*>(data) + 1, size - 1);
  std::string content_type;
  std::string body;
  if (data[0] & 2) {
    const size_t nl = in.find('\n');
    content_type = in.substr(0, nl);
    body = nl == std::string::npos ? "" : in.substr(nl + 1);
  } else {
    const size_t blen = std::min<size_t>(static_cast<uint8_t>(in[0]) % 80, in.size() - 1);
    content_type = "multipart/form-data; boundary=" + in.substr(1, blen);
    body = in.substr(1 + blen);
  }
  httplib::Request req;
  req.headers.emplace("Content-Type", content_type);
  RawBody raw;
  raw.boundary = MultipartBoundary(content_type);
  if (!raw.boundary) return 0;  // not multipart: fuzz_request reads the other encodings
  raw.body = body;
  const ImageKeys& keys = removebg ? RemoveBgImageKeys() : V2ImageKeys();

  auto gathered = GatherFields(req, raw, keys);
  auto parts = ParseMultipart(body, *raw.boundary);
  if (!gathered.ok()) {
    FUZZ_CHECK(gathered.status().code() == "bad_request");
    FUZZ_CHECK(Catalogued(gathered.status().code()));
    return 0;
  }
  FUZZ_CHECK(parts.ok());
  FUZZ_CHECK(!gathered->json);

  // The request the parts make, built independently of GatherFields.
  OptionFields fields;
  int images = 0;
  std::string last_image;
  for (const auto& p : *parts) {
    const ImageField* kind = nullptr;
    for (const auto& [name, k] : keys)
      if (NormalizeOptionKey(p.name) == name) kind = &k;
    if (!kind) {
      fields.emplace_back(p.name, std::string(p.content));
      continue;
    }
    if (p.content.empty()) continue;
    ++images;
    last_image = std::string(p.content);
    if (*kind == ImageField::kLegacyBase64) fields.emplace_back("channels", "alpha");
  }
  FUZZ_CHECK(gathered->images == images);
  FUZZ_CHECK(gathered->fields == fields);
  FUZZ_CHECK(fields.size() + static_cast<size_t>(images) <= kMaxFormParts);
  for (const auto& [k, v] : gathered->fields) FUZZ_CHECK(v.size() <= body.size());
  FUZZ_CHECK(images > 0 || (!gathered->image && !gathered->image_b64 && !gathered->image_url));

  OptionFields option_fields = gathered->fields;
  if (removebg) {
    auto mapped = MapRemoveBgFields(gathered->fields);
    if (!mapped.ok()) {
      FUZZ_CHECK(Catalogued(mapped.status().code()));
      return 0;
    }
    option_fields = std::move(mapped->fields);
  }
  ApiError error;
  auto options = ParseOptions(option_fields, &error);
  if (!options.ok()) FUZZ_CHECK(Catalogued(error.code));

  if (images == 1 && gathered->image_url) return 0;  // would fetch: fuzz_address covers the URL
  auto image = ResolveImage(*gathered, UrlFetchOptions{});
  if (!image.ok()) {
    FUZZ_CHECK(Catalogued(image.status().code()));
    FUZZ_CHECK(images != 1 || gathered->image_b64);  // only base64 can fail with one image
    return 0;
  }
  FUZZ_CHECK(images == 1);
  if (gathered->image) {
    FUZZ_CHECK(*image == last_image);
  } else {
    FUZZ_CHECK(gathered->image_b64 && *gathered->image_b64 == last_image);
    auto decoded = DecodeBase64(last_image);
    FUZZ_CHECK(decoded && *decoded == *image && !image->empty());
  }
  return 0;
}
