// The multipart/form-data parser (see multipart.h). One pass over the body, linear in its size
// whatever the parts hold.
#include "api/multipart.h"

#include <algorithm>
#include <cstring>
#include <functional>

#include "common/text.h"

namespace bgerase::api {
namespace {

constexpr std::size_t kMaxBoundary = 70;  // RFC 2046 §5.1.1

Status Malformed(const std::string& why) {
  return Status("bad_request", "The multipart body is malformed: " + why + ".");
}

// Reads one parameter value at `s` (a quoted-string with backslash escapes, or a token) and
// advances past it.
std::string ParamValue(std::string_view& s) {
  std::string out;
  if (!s.empty() && s.front() == '"') {
    std::size_t i = 1;
    for (; i < s.size() && s[i] != '"'; ++i) {
      if (s[i] == '\\' && i + 1 < s.size()) ++i;
      out += s[i];
    }
    s.remove_prefix(std::min(s.size(), i + 1));
    return out;
  }
  const std::size_t end = std::min(s.find(';'), s.size());
  out = std::string(Trim(s.substr(0, end)));
  s.remove_prefix(end);
  return out;
}

// `type; a=1; b="x;y"` -> the lower-cased type, then each (lower-cased name, value) to `param`.
std::string ParseHeaderValue(std::string_view s,
                             const std::function<void(const std::string&, std::string)>& param) {
  const std::size_t semi = std::min(s.find(';'), s.size());
  std::string type = Lower(Trim(s.substr(0, semi)));
  s.remove_prefix(semi);
  while (!s.empty()) {
    s.remove_prefix(1);  // ';'
    s = Trim(s);
    const std::size_t eq = s.find('=');
    const std::size_t semi2 = s.find(';');
    if (eq == std::string_view::npos || (semi2 != std::string_view::npos && semi2 < eq)) {
      s.remove_prefix(std::min(semi2, s.size()));  // a parameter without a value
      continue;
    }
    const std::string name = Lower(Trim(s.substr(0, eq)));
    s.remove_prefix(eq + 1);
    s = Trim(s);
    std::string value = ParamValue(s);
    param(name, std::move(value));
    const std::size_t next = s.find(';');
    s.remove_prefix(std::min(next, s.size()));
  }
  return type;
}

// RFC 5987 ext-value: charset'language'percent-encoded. UTF-8 and ISO-8859-1 are the charsets
// the RFC requires; bytes of the latter are widened to UTF-8.
std::optional<std::string> DecodeExtValue(std::string_view v) {
  const std::size_t q1 = v.find('\'');
  if (q1 == std::string_view::npos) return std::nullopt;
  const std::size_t q2 = v.find('\'', q1 + 1);
  if (q2 == std::string_view::npos) return std::nullopt;
  const std::string charset = Lower(v.substr(0, q1));
  const bool latin1 = charset == "iso-8859-1";
  if (charset != "utf-8" && !latin1) return std::nullopt;
  std::string out;
  for (std::size_t i = q2 + 1; i < v.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(v[i]);
    if (c == '%') {
      if (i + 2 >= v.size() || HexDigit(v[i + 1]) < 0 || HexDigit(v[i + 2]) < 0)
        return std::nullopt;
      c = static_cast<unsigned char>(HexDigit(v[i + 1]) * 16 + HexDigit(v[i + 2]));
      i += 2;
    }
    if (latin1 && c >= 0x80) {
      out += static_cast<char>(0xC0 | (c >> 6));
      out += static_cast<char>(0x80 | (c & 0x3F));
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

// The header block of one part (without its final blank line) into `part`.
Status ParsePartHeaders(std::string_view block, FormPart* part) {
  bool disposition = false;
  bool has_name = false;
  std::optional<std::string> ext_filename;
  while (!block.empty()) {
    std::size_t eol = block.find('\n');
    std::string_view line = block.substr(0, eol);
    block.remove_prefix(eol == std::string_view::npos ? block.size() : eol + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) continue;
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) return Malformed("a part header has no ':'");
    const std::string name = Lower(Trim(line.substr(0, colon)));
    const std::string_view value = Trim(line.substr(colon + 1));
    if (name == "content-disposition") {
      disposition = true;
      const std::string type = ParseHeaderValue(value, [&](const std::string& k, std::string v) {
        if (k == "name") {
          part->name = std::move(v);
          has_name = true;
        } else if (k == "filename") {
          part->filename = std::move(v);
        } else if (k == "filename*") {
          ext_filename = DecodeExtValue(v);
        }
      });
      if (type != "form-data") return Malformed("a part's Content-Disposition is not form-data");
    } else if (name == "content-type") {
      part->content_type = std::string(value);
      if (Lower(value).rfind("multipart/", 0) == 0)
        return Malformed("nested multipart parts are not accepted");
    }
  }
  if (!disposition || !has_name) return Malformed("a part has no form-data name");
  if (ext_filename) part->filename = std::move(*ext_filename);  // RFC 6266: filename* wins
  return Status();
}

}  // namespace

std::optional<std::string> MultipartBoundary(std::string_view content_type) {
  std::string boundary;
  bool seen = false;
  const std::string type = ParseHeaderValue(content_type, [&](const std::string& k, std::string v) {
    if (k == "boundary" && !seen) {
      boundary = std::move(v);
      seen = true;
    }
  });
  if (type != "multipart/form-data") return std::nullopt;
  if (boundary.size() > kMaxBoundary) return std::string();
  return boundary;
}

Result<std::vector<FormPart>> ParseMultipart(std::string_view body, std::string_view boundary) {
  const bool bchars = std::all_of(boundary.begin(), boundary.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c != '\0' && std::strchr("'()+_,-./:=? ", c) != nullptr);
  });
  if (boundary.empty() || boundary.size() > kMaxBoundary || !bchars || boundary.back() == ' ')
    return Malformed("the boundary must be 1 to 70 characters of RFC 2046's set");
  // Every delimiter but a first one at the very start of the body follows a CRLF.
  const std::string delimiter = "\r\n--" + std::string(boundary);
  // A boundary holds no CR (RFC 2046's bchars), so the bytes compared after one CR never reach
  // the next: each byte is looked at a bounded number of times, whatever the content.
  auto find = [&](std::size_t from) -> std::size_t {
    while (from < body.size()) {
      const void* cr = std::memchr(body.data() + from, '\r', body.size() - from);
      if (!cr) return std::string_view::npos;
      const std::size_t at = static_cast<std::size_t>(static_cast<const char*>(cr) - body.data());
      if (body.substr(at, delimiter.size()) == delimiter) return at;
      from = at + 1;
    }
    return std::string_view::npos;
  };

  // The first delimiter: at the start, or after the preamble.
  std::size_t pos;
  if (body.substr(0, delimiter.size() - 2) == std::string_view(delimiter).substr(2)) {
    pos = delimiter.size() - 2;
  } else {
    const std::size_t d = find(0);
    if (d == std::string_view::npos) return Malformed("no boundary delimiter was found");
    pos = d + delimiter.size();
  }

  std::vector<FormPart> parts;
  for (;;) {
    // After a delimiter: "--" closes the body (anything after it is epilogue); otherwise
    // optional transport padding, then the CRLF that starts the part's headers.
    if (body.substr(pos, 2) == "--") return parts;
    while (pos < body.size() && (body[pos] == ' ' || body[pos] == '\t')) ++pos;
    if (body.substr(pos, 2) == "\r\n") {
      pos += 2;
    } else if (body.substr(pos, 1) == "\n") {
      pos += 1;
    } else {
      return Malformed(pos >= body.size() ? "the body ends without its close delimiter"
                                          : "a boundary delimiter is followed by other text");
    }
    if (parts.size() == kMaxFormParts)
      return Malformed("more than " + std::to_string(kMaxFormParts) + " parts");

    // Headers end at the first empty line (CRLF CRLF; a bare LF LF is accepted too).
    const std::string_view rest = body.substr(pos, kMaxPartHeaderBytes + 4);
    std::size_t hdr_end = rest.find("\r\n\r\n");
    std::size_t sep = 4;
    const std::size_t lf = rest.find("\n\n");
    if (lf != std::string_view::npos && (hdr_end == std::string_view::npos || lf < hdr_end)) {
      hdr_end = lf;
      sep = 2;
    }
    if (rest.substr(0, 2) == "\r\n") {  // no headers at all
      hdr_end = 0;
      sep = 2;
    }
    if (hdr_end == std::string_view::npos) {
      return Malformed(rest.size() > kMaxPartHeaderBytes
                           ? "a part's headers are longer than " +
                                 std::to_string(kMaxPartHeaderBytes) + " bytes"
                           : "the body ends inside a part's headers");
    }
    FormPart part;
    BGERASE_RETURN_IF_ERROR(ParsePartHeaders(rest.substr(0, hdr_end), &part));
    const std::size_t content = pos + hdr_end + sep;
    const std::size_t end = find(content);
    if (end == std::string_view::npos) return Malformed("a part has no end");
    part.content = body.substr(content, end - content);
    parts.push_back(std::move(part));
    pos = end + delimiter.size();
  }
}

}  // namespace bgerase::api
