// remove.bg's field mapping (api::MapRemoveBgFields) on any field list a client can send. Input:
// fields separated by '&' or '\n', each "key=value", both percent-decoded, so any byte can reach
// a key or a value. Invariants, against a model of the mapping's contract written here:
// - a refusal is `unsupported_option` (a catalogue code) with a valid UTF-8 message of bounded
//   size, and it is justified: a remove.bg-only field (type_level, semitransparency) holds a
//   value that is neither empty nor one of its defaults, or format=zip is combined with a
//   background (bg_color, bg_image_url, bg_image_file) or a channels value other than rgba, or
//   semitransparency is true with type car or car_interior (values trimmed and read in any
//   case, as ParseRemovalOptions does);
// - an accepted mapping has no such field left and no format=zip, keeps every other field
//   unchanged and in order, and adds format=png exactly when zip is set;
// - TakeBackgroundFields then refuses (bad_request) exactly when more than one background is
//   given, and otherwise leaves every field but the background images, in order;
// - ParseOptions on the mapped fields never crashes, refuses only with catalogue codes, and with
//   zip set accepts only a PNG RGBA cut-out without a background colour.
#include <string>
#include <utility>
#include <vector>

#include "api/request_fields.h"
#include "common/text.h"
#include "fuzz_driver.h"

using namespace bgerase::api;  // NOLINT
using bgerase::Lower;
using bgerase::Trim;
using bgerase::removal::NormalizeOptionKey;
using bgerase::removal::OptionFields;

namespace {

// remove.bg's fields that bgerase accepts only empty or at their default (docs/reference/api.md):
// the table is the contract's data; the checks below are this target's own.
const std::vector<std::pair<std::string, std::vector<std::string>>>& RemoveBgOnly() {
  return RemoveBgDefaults();
}

const std::vector<std::string>* DefaultsOf(const std::string& key) {
  for (const auto& [name, defaults] : RemoveBgOnly())
    if (NormalizeOptionKey(key) == name) return &defaults;
  return nullptr;
}

bool IsDefault(const std::vector<std::string>& defaults, const std::string& value) {
  const std::string v = Lower(Trim(value));
  if (v.empty()) return true;
  for (const auto& d : defaults)
    if (v == d) return true;
  return false;
}

bool IsZipFormat(const std::string& key, const std::string& value) {
  return NormalizeOptionKey(key) == "format" && Lower(Trim(value)) == "zip";
}

bool ValidUtf8(const std::string& s) {
  size_t i = 0;
  while (i < s.size())
    if (bgerase::NextCodePoint(s, i) < 0) return false;
  return true;
}

OptionFields Decode(const std::string& in) {
  OptionFields fields;
  size_t start = 0;
  while (start <= in.size()) {
    const size_t end = in.find_first_of("&\n", start);
    const std::string rec = in.substr(start, end == std::string::npos ? end : end - start);
    const size_t eq = rec.find('=');
    fields.emplace_back(UrlDecode(rec.substr(0, eq)),
                        eq == std::string::npos ? "" : UrlDecode(rec.substr(eq + 1)));
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return fields;
}

}  // namespace

std::vector<std::string> FuzzSeeds() {
  return {"size=auto&format=zip&scale=&position=original&roi=0%25%200%25%20100%25%20100%25",
          "type_level=LATEST&semitransparency=Yes&add_shadow=off&bg_image_url=&type=car",
          "format=zip&channels=%20RGBA%0A&bg_color=%20",
          "format=Zip\nbg-colour=red",
          "Scale=50%25&crop=true&crop_margin=10%25",
          "format=zip&channels=alpha",
          "format=zip&format=png&FORMAT=jpg",
          "bg_image_file=%FF%FE" + std::string(300, 'x'),
          "bg_color=red&bg_image_url=http://x/&bg_image_file=",
          "bg_image_url=%20&BG-IMAGE-URL=a&bg_image_url=b"};
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const OptionFields in = Decode(std::string(reinterpret_cast<const char*>(data), size));

  // The model's verdict: why a mapping must refuse, if it must.
  bool zip = false;
  bool bad_removebg_value = false;
  for (const auto& [k, v] : in) {
    if (const auto* defaults = DefaultsOf(k); defaults && !IsDefault(*defaults, v))
      bad_removebg_value = true;
    zip = zip || IsZipFormat(k, v);
  }
  bool semi = false, car = false;
  for (const auto& [k, v] : in) {
    const std::string key = NormalizeOptionKey(k);
    const std::string value = Lower(Trim(v));
    if (key == "semitransparency")
      semi = value == "true" || value == "1" || value == "yes" || value == "on";
    if (key == "type") car = value == "car" || value == "car_interior";
  }
  bad_removebg_value = bad_removebg_value || (semi && car);
  bool zip_conflict = false;
  if (zip) {
    for (const auto& [k, v] : in) {
      const std::string key = NormalizeOptionKey(k);
      const std::string value = Lower(Trim(v));
      if ((key == "bg_color" || key == "bg_colour" || key == "bg_image_url" ||
           key == "bg_image_file") &&
          !value.empty())
        zip_conflict = true;
      if (key == "channels" && !value.empty() && value != "rgba") zip_conflict = true;
    }
  }

  auto mapped = MapRemoveBgFields(in);
  if (!mapped.ok()) {
    FUZZ_CHECK(mapped.status().code() == "unsupported_option");
    FUZZ_CHECK(LookupError(mapped.status().code()).code == mapped.status().code());
    FUZZ_CHECK(mapped.status().message().size() <= bgerase::kMaxEchoBytes + 128);
    FUZZ_CHECK(ValidUtf8(mapped.status().message()));
    FUZZ_CHECK(bad_removebg_value || zip_conflict);
    return 0;
  }
  FUZZ_CHECK(!bad_removebg_value && !zip_conflict);
  FUZZ_CHECK(mapped->zip == zip);
  OptionFields expected;
  for (const auto& [k, v] : in)
    if (!DefaultsOf(k) && !IsZipFormat(k, v)) expected.emplace_back(k, v);
  if (zip) expected.emplace_back("format", "png");
  FUZZ_CHECK(mapped->fields == expected);

  int backgrounds = 0;
  OptionFields without_images;
  for (const auto& [k, v] : mapped->fields) {
    const std::string key = NormalizeOptionKey(k);
    const bool image = key == "bg_image_url" || key == "bg_image_file" || key == "bg_image_base64";
    if ((image || key == "bg_color" || key == "bg_colour") && !Trim(v).empty()) ++backgrounds;
    if (!image) without_images.emplace_back(k, v);
  }
  OptionFields fields = mapped->fields;
  auto background = TakeBackgroundFields(fields);
  if (!background.ok()) {
    FUZZ_CHECK(background.status().code() == "bad_request");
    FUZZ_CHECK(backgrounds > 1 || background.status().message().find("twice") != std::string::npos);
    return 0;
  }
  FUZZ_CHECK(backgrounds <= 1);
  FUZZ_CHECK(fields == without_images);

  ApiError error;
  auto options = ParseOptions(fields, &error);
  if (!options.ok()) {
    FUZZ_CHECK(error.code == "validation_error" || error.code == "invalid_bg_color");
    FUZZ_CHECK(LookupError(error.code).code == error.code);
    FUZZ_CHECK(options.status().code() == error.code);
    return 0;
  }
  if (zip) {
    FUZZ_CHECK(options->format == bgerase::removal::OutputFormat::kPng);
    FUZZ_CHECK(options->channels == bgerase::removal::Channels::kRgba);
    FUZZ_CHECK(!options->bg_color);
  }
  return 0;
}
