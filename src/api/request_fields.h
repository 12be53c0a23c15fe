// Reading a removal request, whatever its encoding (multipart, JSON, form-encoded) and dialect
// (v2 or remove.bg): the body reader, field gathering, image resolution and option parsing. The
// routes and the fuzz targets share it.
#pragma once

#include <httplib.h>

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "api/error_catalogue.h"
#include "api/url_fetcher.h"
#include "common/status.h"
#include "removal/options.h"

namespace bgerase::api {

bool IsJson(const httplib::Request& req);
std::string UrlDecode(std::string_view s);
// JSON nested deeper than this is refused before anything walks it (nlohmann's parse and dump
// recurse): no body of ours nests more than two levels.
inline constexpr int kMaxJsonDepth = 16;
// A request body as JSON. Errors ("bad_request"): nested deeper than kMaxJsonDepth, not JSON.
Result<nlohmann::json> ParseJsonBody(std::string_view text);

// One request's image and option fields, gathered from whichever encoding it used.
struct RemovalRequest {
  std::optional<std::string> image;      // raw bytes
  std::optional<std::string> image_b64;  // base64 (image_base64, image_file_b64, legacy image)
  std::optional<std::string> image_url;
  removal::OptionFields fields;
  bool json = false;  // the request was JSON, so the answer is too (v2)
  int images = 0;     // how many image fields were given; more than one is refused
};

// A POST body, read by our own content reader: httplib's built-in reading caps form-encoded
// bodies at 8 KB, too small for remove.bg's image_file_b64.
struct RawBody {
  std::optional<std::string> boundary;  // multipart/form-data requests (see api/multipart.h)
  std::string body;                     // the bytes as they arrived
  bool complete = true;        // false: reading failed (over the size cap, malformed, cut short)
  bool too_large = false;      // more than kMaxBodyBytes arrived (chunked bodies included)
  std::uint64_t received = 0;  // bytes read off the connection, kept or not (the access log's)
};
RawBody ReadBody(const httplib::Request& req, const httplib::ContentReader& reader);
// What to answer when the body could not be read: 413 when it was over the cap (httplib sets 413
// for a Content-Length over it; ReadBody counts chunked bodies), else 400.
ApiError BodyError(const RawBody& raw, int httplib_status);

// Where an image field's value goes.
enum class ImageField {
  kFile,          // raw bytes (a multipart file part, or a field's text)
  kBase64,        // base64 text
  kUrl,           // a URL to fetch
  kLegacyBase64,  // v2's legacy `image`: base64, and forces channels=alpha
};
// (Normalised) field names of image sources, and where each goes.
using ImageKeys = std::vector<std::pair<std::string, ImageField>>;
const ImageKeys& V2ImageKeys();
const ImageKeys& RemoveBgImageKeys();
// Reads the request's fields; image fields by `image_keys`, every other field as an option.
Result<RemovalRequest> GatherFields(const httplib::Request& req, RawBody& raw,
                                    const ImageKeys& image_keys);
// Turns the gathered request into image bytes (fetching image_url), or the error to answer.
Result<std::string> ResolveImage(const RemovalRequest& r, const UrlFetchOptions& fetch);
// A background image's fields (remove.bg's bg_image_file and bg_image_url; v2 also takes
// bg_image_base64, since a JSON body cannot carry a file), taken out of the option fields.
struct BackgroundFields {
  std::optional<std::string> file, base64, url;
  bool any() const { return file || base64 || url; }
};
// Moves the background-image fields out of `fields` (empty values are absent, as for every
// field). Error "bad_request" naming them when more than one of bg_color (bg_colour),
// bg_image_url and bg_image_file (bg_image_base64) is given.
Result<BackgroundFields> TakeBackgroundFields(removal::OptionFields& fields);
// Sets options->bg_image to the background's bytes, when one was given: the file, the decoded
// base64 ("invalid_base64"), or the URL fetched through the same SSRF-safe fetcher and caps as
// image_url ("image_url_fetch_failed", naming bg_image_url). Takes `bg` so a file's bytes move
// into the options rather than being copied.
Status ResolveBackground(BackgroundFields&& bg, const UrlFetchOptions& fetch,
                         removal::RemovalOptions* options);

// Options through the one parser; unknown fields are refused (never silently ignored).
Result<removal::RemovalOptions> ParseOptions(const removal::OptionFields& fields, ApiError* error);

// remove.bg's fields mapped onto ours. Fields bgerase does not implement are accepted only empty
// or at their default ("unsupported_option" otherwise), so a client never gets a result that
// silently ignored what it asked for; format=zip becomes `zip` (with a PNG cut-out to split).
struct RemoveBgFields {
  removal::OptionFields fields;  // for ParseOptions
  bool zip = false;              // answer color.jpg + alpha.png in a zip
};
Result<RemoveBgFields> MapRemoveBgFields(removal::OptionFields fields);
// The remove.bg fields bgerase does not implement, each with the values (besides empty) that mean
// its default; normalised names (NormalizeOptionKey).
const std::vector<std::pair<std::string, std::vector<std::string>>>& RemoveBgDefaults();

}  // namespace bgerase::api
