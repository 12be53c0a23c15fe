// The API's base64 reader (image_base64, image_file_b64, data: URLs). Invariants: never crashes;
// what it decodes, encoded again, decodes to the same bytes.
#include <string>

#include "api/base64.h"
#include "fuzz_driver.h"

using bgerase::api::DecodeBase64;
using bgerase::api::EncodeBase64;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string in(reinterpret_cast<const char*>(data), size);
  auto decoded = DecodeBase64(in);
  if (decoded) {
    const std::string again = EncodeBase64(*decoded);
    auto round = DecodeBase64(again);
    FUZZ_CHECK(round && *round == *decoded);
  }
  return 0;
}
