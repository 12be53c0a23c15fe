// The API's request-field reader on JSON and form-encoded bodies (the first byte picks which),
// then the image resolution and options, exactly as POST /v2 and /v1.0/removebg run them short
// of the model. Invariants: never crashes; a request it accepts has exactly one image.
#include <string>

#include "api/request_fields.h"
#include "fuzz_driver.h"

using namespace bgerase::api;  // NOLINT

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  httplib::Request req;
  const bool json = data[0] & 1;
  req.headers.emplace("Content-Type",
                      json ? "application/json" : "application/x-www-form-urlencoded");
  RawBody raw;
  raw.body.assign(reinterpret_cast<const char*>(data) + 1, size - 1);
  const auto& keys = data[0] & 2 ? RemoveBgImageKeys() : V2ImageKeys();
  auto gathered = GatherFields(req, raw, keys);
  if (!gathered.ok()) return 0;
  bgerase::api::ApiError error;
  (void)ParseOptions(gathered->fields, &error);
  if (gathered->images == 1 && !gathered->image_url) {
    auto image = ResolveImage(*gathered, bgerase::api::UrlFetchOptions{});
    if (image.ok()) FUZZ_CHECK(gathered->image || gathered->image_b64);
  }
  return 0;
}
