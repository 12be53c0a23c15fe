// See request_fields.h. Every dialect's body goes through GatherFields: multipart by our own
// parser, JSON by a SAX reader that keeps duplicate keys, form-encoded by hand.
#include "api/request_fields.h"

#include <memory>
#include <string>
#include <utility>

#include "api/base64.h"
#include "api/multipart.h"
#include "api/server.h"
#include "common/text.h"

namespace bgerase::api {

using json = nlohmann::json;

bool IsJson(const httplib::Request& req) {
  return Lower(req.get_header_value("Content-Type")).rfind("application/json", 0) == 0;
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
    raw.received += n;
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
  if (raw.too_large || httplib_status == 413) {
    return {"payload_too_large",
            "The request body is larger than " + std::to_string(kMaxBodyBytes) +
                " bytes (a 30 MB image as base64, and 1 MB for the other fields).",
            {},
            0};
  }
  return {"bad_request", "The request body could not be read (malformed or cut short).", {}, 0};
}

Result<RemovalRequest> GatherFields(const httplib::Request& req, RawBody& raw,
                                    const ImageKeys& image_keys) {
  RemovalRequest r;
  auto place = [&](const std::string& key, std::string value) {
    const std::string k = removal::NormalizeOptionKey(key);
    for (const auto& [name, kind] : image_keys) {
      if (k != name) continue;
      if (value.empty()) return;  // remove.bg clients send empty strings for unused fields
      ++r.images;
      switch (kind) {
        case ImageField::kFile:
          r.image = std::move(value);
          break;
        case ImageField::kBase64:
          r.image_b64 = std::move(value);
          break;
        case ImageField::kUrl:
          r.image_url = std::move(value);
          break;
        case ImageField::kLegacyBase64:
          r.image_b64 = std::move(value);
          r.fields.emplace_back("channels", "alpha");
          break;
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
    if (!json::sax_parse(raw.body, &body))
      return Status("bad_request", "The body is not valid JSON.");
    if (!body.object) return Status("bad_request", "The JSON body must be an object.");
    for (auto& [key, value] : body.fields) {
      auto text = JsonFieldText(value);
      if (!text)
        return Status("bad_request",
                      "Field '" + Echo(key) + "' must be a string, number, boolean or null.");
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
    return Status("bad_request",
                  "The request has more than " + std::to_string(kMaxFormParts) + " fields.");
  return r;
}

// Field names and their normalised forms for image sources in each dialect.
const ImageKeys& V2ImageKeys() {
  static const ImageKeys k = {{"image_file", ImageField::kFile},
                              {"image_base64", ImageField::kBase64},
                              {"image", ImageField::kLegacyBase64},
                              {"image_url", ImageField::kUrl},
                              {"imageurl", ImageField::kUrl}};
  return k;
}
const ImageKeys& RemoveBgImageKeys() {
  static const ImageKeys k = {{"image_file", ImageField::kFile},
                              {"image_file_b64", ImageField::kBase64},
                              {"image_url", ImageField::kUrl}};
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

Result<BackgroundFields> TakeBackgroundFields(removal::OptionFields& fields) {
  BackgroundFields bg;
  std::vector<std::string> given;  // the names, as the caller spelled them
  removal::OptionFields rest;
  for (auto& [key, value] : fields) {
    const std::string k = removal::NormalizeOptionKey(key);
    std::optional<std::string>* slot = k == "bg_image_file"     ? &bg.file
                                       : k == "bg_image_base64" ? &bg.base64
                                       : k == "bg_image_url"    ? &bg.url
                                                                : nullptr;
    const bool blank = Trim(value).empty();
    if ((slot || k == "bg_color" || k == "bg_colour") && !blank) given.push_back(Echo(key));
    if (!slot) {
      rest.emplace_back(std::move(key), std::move(value));
    } else if (!blank) {
      if (*slot) return Status("bad_request", "Field '" + Echo(key) + "' is given twice.");
      *slot = k == "bg_image_file" ? std::move(value) : std::string(Trim(value));
    }
  }
  if (given.size() > 1) {
    std::string names;
    for (std::size_t i = 0; i < given.size(); ++i)
      names += (i == 0 ? "" : i + 1 == given.size() ? " and " : ", ") + given[i];
    return Status(
        "bad_request",
        "bg_color, bg_image_url and bg_image_file are mutually exclusive; got " + names + ".");
  }
  fields = std::move(rest);
  return bg;
}

Status ResolveBackground(BackgroundFields&& bg, const UrlFetchOptions& fetch,
                         removal::RemovalOptions* options) {
  if (!bg.any()) return Status();
  std::string bytes;
  if (bg.file) {
    bytes = std::move(*bg.file);
  } else if (bg.base64) {
    auto decoded = DecodeBase64(*bg.base64);
    if (!decoded || decoded->empty())
      return Status("invalid_base64",
                    "The background image (bg_image_base64) is not valid base64.");
    bytes = std::move(*decoded);
  } else {
    auto fetched = FetchImageUrl(*bg.url, fetch);
    if (!fetched.ok()) {
      std::string why = fetched.status().message();
      const std::string prefix = "Could not fetch image_url: ";
      if (why.rfind(prefix, 0) == 0) why = why.substr(prefix.size());
      return Status(fetched.status().code(), "Could not fetch bg_image_url: " + why);
    }
    bytes = std::move(fetched).value();
  }
  options->bg_image = std::make_shared<const std::string>(std::move(bytes));
  return Status();
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
    details.push_back(
        {"extra_forbidden", Echo(key), "Unknown field '" + Echo(key) + "'.", Echo(input)});
  }
  for (auto& d : details) d.input = Echo(std::move(d.input));
  if (options.ok() && details.empty()) return options;
  if (!options.ok() && options.status().code() == "invalid_bg_color") {
    *error = {"invalid_bg_color", options.status().message(), {}, 0};
  } else {
    *error = {"validation_error",
              options.ok() ? "Unknown field '" + Echo(unknown.front()) + "'."
                           : options.status().message(),
              std::move(details), 0};
  }
  return Status(error->code, error->message);
}

const std::vector<std::pair<std::string, std::vector<std::string>>>& RemoveBgDefaults() {
  static const std::vector<std::pair<std::string, std::vector<std::string>>> kDefaults = {
      {"type_level", {"1", "latest"}},
      // Any boolean: see SemitransparencyRefused for the one combination refused.
      {"semitransparency", {"true", "1", "yes", "on", "false", "0", "no", "off"}},
  };
  return kDefaults;
}

// remove.bg keeps car windows see-through when semitransparency is true (its default, which it
// honours for cars only). bgerase's model makes such windows opaque (docs/reference/api.md has
// the measurement), so a request that says it is a car and asks for see-through windows is
// refused rather than answered without them; for every other type remove.bg itself gives no
// semi-transparency, and so the default is accepted.
bool SemitransparencyRefused(const removal::OptionFields& fields) {
  bool asked = false, car = false;
  for (const auto& [k, v] : fields) {
    const std::string norm = removal::NormalizeOptionKey(k);
    const std::string value = Lower(Trim(v));
    if (norm == "semitransparency") asked = removal::ParseBool(value).value_or(false);
    if (norm == "type") car = value == "car" || value == "car_interior";
  }
  return asked && car;
}

Result<RemoveBgFields> MapRemoveBgFields(removal::OptionFields in) {
  if (SemitransparencyRefused(in))
    return Status("unsupported_option",
                  "bgerase's model makes car windows opaque, so it cannot give "
                  "semitransparency=true for type=car; send semitransparency=false.");
  RemoveBgFields out;
  removal::OptionFields& fields = out.fields;
  bool& zip = out.zip;
  for (auto& [k, v] : in) {
    const std::string norm = removal::NormalizeOptionKey(k);
    bool handled = false;
    for (const auto& [name, defaults] : RemoveBgDefaults()) {
      if (norm != name) continue;
      handled = true;
      const std::string value = Lower(Trim(v));
      bool ok = value.empty();
      for (const auto& d : defaults) ok = ok || value == d;
      if (!ok)
        return Status("unsupported_option", "bgerase does not implement '" + name + "' (got '" +
                                                Echo(v) + "'); leave it empty or at its default.");
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
    // Values read as ParseRemovalOptions reads them: trimmed (blank is absent), any case.
    for (const auto& [k, v] : fields) {
      const std::string norm = removal::NormalizeOptionKey(k);
      const std::string value = Lower(Trim(v));
      if ((norm == "bg_color" || norm == "bg_colour" || norm == "bg_image_url" ||
           norm == "bg_image_file") &&
          !value.empty())
        return Status("unsupported_option",
                      "format=zip cannot be combined with a background (" + norm + ").");
      if (norm == "channels" && !value.empty() && value != "rgba")
        return Status("unsupported_option",
                      "format=zip returns color.jpg and alpha.png; leave channels at rgba.");
    }
    fields.emplace_back("format", "png");
  }
  return out;
}

}  // namespace bgerase::api
