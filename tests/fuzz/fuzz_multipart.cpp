// The server's multipart/form-data parser (api/multipart.h). Input: one byte giving the boundary's
// length, the boundary, then the body. Invariants: never crashes; at most kMaxFormParts parts,
// each content a slice of the body that holds no delimiter; and the parts, written out again in
// canonical form, parse back to the same names, file names and contents.
#include <cstring>
#include <string>

#include "api/multipart.h"
#include "fuzz_driver.h"

using bgerase::api::FormPart;
using bgerase::api::kMaxFormParts;
using bgerase::api::ParseMultipart;

namespace {

std::string Quote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

std::string PercentEncode(const std::string& s) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    out += '%';
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

std::string Canonical(const std::vector<FormPart>& parts, const std::string& b) {
  std::string out;
  for (const auto& p : parts) {
    out += "--" + b + "\r\nContent-Disposition: form-data; name=" + Quote(p.name);
    if (!p.filename.empty()) out += "; filename*=UTF-8''" + PercentEncode(p.filename);
    out += "\r\n\r\n" + std::string(p.content) + "\r\n";
  }
  return out + "--" + b + "--";
}

}  // namespace

std::vector<std::string> FuzzSeeds() {
  const std::string b = "xyz";
  const std::string body =
      "preamble\r\n--xyz\r\nContent-Disposition: form-data; name=\"size\"\r\n\r\npreview\r\n"
      "--xyz\r\nContent-Disposition: form-data; name=\"image_file\"; filename=\"a.png\"; "
      "filename*=UTF-8''%C3%A9.png\r\nContent-Type: image/png\r\n\r\n\x89PNG\r\n--x\r\n"
      "--xyz--\r\nepilogue";
  return {std::string(1, static_cast<char>(b.size())) + b + body,
          std::string(1, '\x03') + "xyz--xyz--",
          std::string(1, '\x02') + "ab--ab\r\ncontent-disposition: form-data; name=a\r\n\r\n\r\n--ab--"};
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t blen = std::min<size_t>(data[0] % 80, size - 1);
  const std::string boundary(reinterpret_cast<const char*>(data) + 1, blen);
  const std::string body(reinterpret_cast<const char*>(data) + 1 + blen, size - 1 - blen);
  auto parts = ParseMultipart(body, boundary);
  if (!parts.ok()) {
    FUZZ_CHECK(parts.status().code() == "bad_request");
    return 0;
  }
  FUZZ_CHECK(parts->size() <= kMaxFormParts);
  const std::string delimiter = "\r\n--" + boundary;
  for (const auto& p : *parts) {
    FUZZ_CHECK(p.content.data() >= body.data() &&
               p.content.data() + p.content.size() <= body.data() + body.size());
    FUZZ_CHECK(p.content.find(delimiter) == std::string_view::npos);
  }
  for (const auto& p : *parts) {
    if (p.name.find_first_of("\r\n") != std::string::npos) return 0;  // not writable as a header
  }
  const std::string again = Canonical(*parts, boundary);
  auto reparsed = ParseMultipart(again, boundary);
  FUZZ_CHECK(reparsed.ok());
  FUZZ_CHECK(reparsed->size() == parts->size());
  for (size_t i = 0; i < parts->size(); ++i) {
    FUZZ_CHECK((*reparsed)[i].name == (*parts)[i].name);
    FUZZ_CHECK((*reparsed)[i].filename == (*parts)[i].filename);
    FUZZ_CHECK((*reparsed)[i].content == (*parts)[i].content);
  }
  return 0;
}
