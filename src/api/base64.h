// Base64 for the API's image fields and answers.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace bgerase::api {

// Standard and URL-safe alphabets, padding optional, whitespace ignored; a `data:...;base64,`
// prefix is skipped. nullopt on any other character or an impossible length.
std::optional<std::string> DecodeBase64(std::string_view in);
std::string EncodeBase64(std::string_view in);

}  // namespace bgerase::api
