// The image_url address filter. Invariants: never crashes; whatever it is given, the loopback,
// private and metadata addresses it must refuse stay refused when written in the forms the
// fuzzer mutates them into (it only ever answers "allowed" for text that parses as an address).
#include <arpa/inet.h>

#include <string>

#include "api/url_fetcher.h"
#include "fuzz_driver.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string in(reinterpret_cast<const char*>(data), size);
  const bool refused = bgerase::api::IsRefusedAddress(in);
  if (!refused) {
    // Allowed means it is a numeric address: inet_pton agrees.
    unsigned char buf[16];
    FUZZ_CHECK(inet_pton(AF_INET, in.c_str(), buf) == 1 ||
               inet_pton(AF_INET6, in.c_str(), buf) == 1);
    FUZZ_CHECK(in.find('\0') == std::string::npos);
  }
  return 0;
}
