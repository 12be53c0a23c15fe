// The one error catalogue of the HTTP API: every failure the server answers is a code from here,
// with its HTTP status and a default message, rendered in either dialect (BackgroundErase v2 or
// remove.bg). docs/reference/api.md lists the codes.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "removal/options.h"

namespace bgerase::api {

enum class Dialect { kV2, kRemoveBg };

struct CatalogueEntry {
  std::string_view code;
  int http_status;
  std::string_view message;  // the default, used when the failure brings no message of its own
  // Answered only by the web pages and their session endpoints (sign-up, sign-in, CSRF), never
  // by an API-key route; the OpenAPI document lists every other code.
  bool web_only = false;
};

// The entry for `code`. Codes not in the catalogue (a module's internal failure) map to
// `internal_error` (500), so nothing unexpected leaks as an unknown status.
const CatalogueEntry& LookupError(std::string_view code);

// Every entry, for docs and tests.
const std::vector<CatalogueEntry>& ErrorCatalogue();

// One failure, ready to render. `details` only for 422 validation errors.
struct ApiError {
  std::string code;
  std::string message;  // empty: the catalogue's default
  std::vector<removal::FieldError> details;
  int retry_after_s = 0;  // > 0: send Retry-After

  static ApiError From(const Status& st) { return {st.code(), st.message(), {}, 0}; }
};

// The HTTP status for `e` (from the catalogue).
int HttpStatus(const ApiError& e);

// The Retry-After to send with `e` (0: none): its own, else for `rate_limited` the wait its
// message names ("retry in N s"), for `store_unavailable` kStoreRetryAfterS.
inline constexpr int kStoreRetryAfterS = 2;
int RetryAfterSeconds(const ApiError& e);

// The JSON body. v2: {"error":{"code","message","status","request_id"[,"details"]}};
// remove.bg: {"errors":[{"title","code","detail"}]} with one extra entry per field detail.
std::string RenderError(const ApiError& e, Dialect dialect, std::string_view request_id);

}  // namespace bgerase::api
