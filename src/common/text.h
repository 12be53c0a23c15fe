// Text helpers for client-supplied bytes, shared by every module: ASCII only, no locale, so the
// same input always reads the same way.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace bgerase {

inline bool IsAsciiSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

// `s` without leading and trailing ASCII whitespace.
inline std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsAsciiSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsAsciiSpace(s.back())) s.remove_suffix(1);
  return s;
}

// `s` with A-Z turned to a-z; every other byte unchanged.
inline std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// 0-15 for a hexadecimal digit, -1 for anything else.
inline int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Decodes one UTF-8 code point at `i` (strict: no overlongs, surrogates or values past U+10FFFF).
// Returns the code point and advances `i`, or returns -1 and advances `i` by one byte.
inline int32_t NextCodePoint(std::string_view s, size_t& i) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  if (b0 < 0x80) {
    ++i;
    return b0;
  }
  int len = 0;
  int32_t cp = 0;
  int32_t min = 0;
  if ((b0 & 0xE0) == 0xC0) {
    len = 2, cp = b0 & 0x1F, min = 0x80;
  } else if ((b0 & 0xF0) == 0xE0) {
    len = 3, cp = b0 & 0x0F, min = 0x800;
  } else if ((b0 & 0xF8) == 0xF0) {
    len = 4, cp = b0 & 0x07, min = 0x10000;
  } else {
    ++i;
    return -1;
  }
  if (i + len > s.size()) {
    ++i;
    return -1;
  }
  for (int k = 1; k < len; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if ((b & 0xC0) != 0x80) {
      ++i;
      return -1;
    }
    cp = (cp << 6) | (b & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
    ++i;
    return -1;
  }
  i += len;
  return cp;
}

// What an error may repeat of a caller's text (error messages, FieldError.input, logs): valid
// UTF-8 (each invalid byte becomes U+FFFD) of at most kMaxEchoBytes, ending in "…" when cut. Every
// echo of client text goes through it, so a 40 MB field never comes back as a 40 MB error.
inline constexpr size_t kMaxEchoBytes = 256;
inline std::string Echo(std::string_view s) {
  std::string out;
  size_t i = 0;
  while (i < s.size()) {
    const size_t start = i;
    const int32_t cp = NextCodePoint(s, i);
    std::string_view piece = cp < 0 ? std::string_view("\xEF\xBF\xBD") : s.substr(start, i - start);
    if (out.size() + piece.size() > kMaxEchoBytes) {
      out += "\xE2\x80\xA6";  // …
      break;
    }
    out += piece;
  }
  return out;
}

}  // namespace bgerase
