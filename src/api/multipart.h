// multipart/form-data request bodies (RFC 7578 over RFC 2046), read by our own parser so that
// every shape real clients send is accepted (no CRLF after the close delimiter, preamble and
// epilogue, quoted boundaries, RFC 5987 file names) and so that its limits are ours. Pure: bytes
// in, parts out; it knows nothing about HTTP or the options the parts carry.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace bgerase::api {

// More parts than this is refused: no form of ours has more than about 30 fields.
inline constexpr std::size_t kMaxFormParts = 100;
// The header block of one part (Content-Disposition, Content-Type, ...).
inline constexpr std::size_t kMaxPartHeaderBytes = 8192;

// One part. The views point into the body given to ParseMultipart.
struct FormPart {
  std::string name;          // Content-Disposition's name
  std::string filename;      // filename, or filename* decoded (RFC 5987); empty when absent
  std::string content_type;  // as declared; empty when absent (never trusted for images)
  std::string_view content;
};

// The boundary of a `Content-Type: multipart/form-data; boundary=...` header value (type and
// parameter names in any case, the boundary quoted or not), or nullopt when the value is not
// multipart/form-data. An empty string when it is, but its boundary is missing or not 1 to 70
// characters (RFC 2046), which ParseMultipart refuses.
std::optional<std::string> MultipartBoundary(std::string_view content_type);

// Splits `body` into its parts, in order. Linear in the body's size. Text before the first
// delimiter (preamble) and after the close delimiter (epilogue) is ignored, and the close
// delimiter may end the body without a CRLF. Errors, all "bad_request" with a message saying
// what is wrong: a bad boundary, no close delimiter (a part with no end), a part without a
// form-data name, a header block over kMaxPartHeaderBytes, a nested multipart part, more than
// kMaxFormParts parts.
Result<std::vector<FormPart>> ParseMultipart(std::string_view body, std::string_view boundary);

}  // namespace bgerase::api
