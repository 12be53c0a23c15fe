// RemovalOptions and its value parsers, on the fields any API client controls. Input: lines of
// "key=value". Invariants: a parse never crashes; accepted options are within their documented
// ranges; a colour ParseColor accepts survives ColorToHex → ParseColor unchanged.
#include <string>

#include "fuzz_driver.h"
#include "removal/options.h"

using namespace bgerase::removal;  // NOLINT

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string in(reinterpret_cast<const char*>(data), size);
  OptionFields fields;
  std::size_t start = 0;
  while (start <= in.size()) {
    const std::size_t nl = in.find('\n', start);
    const std::string line = in.substr(start, nl == std::string::npos ? nl : nl - start);
    const std::size_t eq = line.find('=');
    fields.emplace_back(line.substr(0, eq), eq == std::string::npos ? "" : line.substr(eq + 1));
    if (nl == std::string::npos) break;
    start = nl + 1;
  }
  std::vector<FieldError> details;
  std::vector<std::string> unknown;
  auto options = ParseRemovalOptions(fields, &details, &unknown);
  if (options.ok()) {
    FUZZ_CHECK(details.empty());
    FUZZ_CHECK(options->quality >= 1 && options->quality <= 100);
    FUZZ_CHECK(options->max_pixels > 0 && options->max_pixels <= kFullPixels);
    FUZZ_CHECK(options->on_behalf_of.size() <= kMaxOnBehalfOfChars * 4);
  } else {
    FUZZ_CHECK(!details.empty());
  }
  for (const auto& [k, v] : fields) {
    if (auto c = ParseColor(v)) {
      auto back = ParseColor(ColorToHex(*c));
      FUZZ_CHECK(back && back->r == c->r && back->g == c->g && back->b == c->b && back->a == c->a);
    }
    (void)ParseCropMargin(v);
    (void)ParseBool(v);
  }
  return 0;
}
