// The error catalogue and its two renderings.
#include "api/error_catalogue.h"

#include <algorithm>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>

#include "common/image_formats.h"

namespace bgerase::api {

const std::vector<CatalogueEntry>& ErrorCatalogue() {
  // From the one image cap, so the answer and the limit cannot disagree.
  static const std::string kTooLarge =
      "The image is larger than " + std::to_string(kMaxImageBytes / 1'000'000) + " MB.";
  static const std::vector<CatalogueEntry> kEntries = {
      {"bad_request", 400, "The request is malformed."},
      {"invalid_bg_color", 400, "bg_color is not a colour."},
      {"invalid_base64", 400, "The image is not valid base64."},
      {"image_url_fetch_failed", 400, "The image at image_url could not be fetched."},
      {"unsupported_image", 400, "The file is not an image type bgerase reads."},
      {"corrupt_image", 400, "The image is damaged or truncated."},
      {"unsupported_option", 400, "This option is not implemented by bgerase."},
      {"invalid_email", 400, "That is not an email address.", true},
      {"weak_password", 400, "Choose a password of at least 8 characters.", true},
      {"confirmation_required", 400, "Type your email address to confirm.", true},
      {"missing_api_key", 401, "Send your API key in the x-api-key header."},
      {"invalid_api_key", 401, "The API key is unknown or revoked."},
      {"invalid_credentials", 401, "The email or password is not right.", true},
      {"not_signed_in", 401, "Sign in first.", true},
      {"csrf_failed", 403, "The form expired or came from another site; reload the page.", true},
      {"insufficient_credits", 402,
       "This month's credit allowance is spent; ask the operator for more."},
      {"not_found", 404, "No such resource."},
      {"job_not_finished", 409, "The job has not finished; see GET /v2/jobs/{id}."},
      {"account_exists", 409, "An account with this email exists already; sign in instead.", true},
      {"method_not_allowed", 405, "This method is not allowed here."},
      {"length_required", 411, "Send this body with a Content-Length header, not chunked."},
      {"payload_too_large", 413, kTooLarge},
      {"image_too_large", 413, "The image has more than 100 megapixels."},
      {"validation_error", 422, "Some fields are invalid."},
      {"rate_limited", 429, "Too many requests for this key; retry later."},
      {"login_rate_limited", 429, "Too many sign-in attempts; wait a little and retry.", true},
      {"internal_error", 500, "Something went wrong on our side."},
      {"overloaded", 503, "The server is busy; retry shortly."},
      {"not_ready", 503, "The server is starting; retry shortly."},
      {"store_unavailable", 503, "The database is unreachable; retry shortly."},
  };
  return kEntries;
}

const CatalogueEntry& LookupError(std::string_view code) {
  for (const auto& e : ErrorCatalogue())
    if (e.code == code) return e;
  // Store codes that a caller may legitimately cause keep their meaning.
  if (code == "invalid_argument") return LookupError("bad_request");
  static const CatalogueEntry kInternal = {"internal_error", 500,
                                           "Something went wrong on our side."};
  return kInternal;
}

int HttpStatus(const ApiError& e) {
  return LookupError(e.code).http_status;
}

int RetryAfterSeconds(const ApiError& e) {
  if (e.retry_after_s > 0) return e.retry_after_s;
  if (e.code == "rate_limited") {
    // The wait is in the message ("retry in N s"); the header carries it for clients.
    const auto at = e.message.find("retry in ");
    return at == std::string::npos ? 1 : std::max(1, std::atoi(e.message.c_str() + at + 9));
  }
  // A database outage (a restart, a failover) is usually over in seconds; the client's retry is
  // then answered, so it is told when to make it rather than given a 500.
  if (e.code == "store_unavailable") return kStoreRetryAfterS;
  return 0;
}

std::string RenderError(const ApiError& e, Dialect dialect, std::string_view request_id) {
  const CatalogueEntry& entry = LookupError(e.code);
  // An uncatalogued code is an internal failure: its message may describe internals, so the
  // client gets the catalogue's text and the log keeps the rest.
  // internal_error and store_unavailable never carry their messages out either (exception texts,
  // library errors, the database's address).
  const bool known =
      entry.code == e.code && entry.code != "internal_error" && entry.code != "store_unavailable";
  const std::string code(entry.code);
  const std::string message = known && !e.message.empty() ? e.message : std::string(entry.message);
  nlohmann::json body;
  if (dialect == Dialect::kV2) {
    nlohmann::json err = {{"code", code},
                          {"message", message},
                          {"status", entry.http_status},
                          {"request_id", request_id}};
    if (!e.details.empty()) {
      nlohmann::json details = nlohmann::json::array();
      for (const auto& d : e.details)
        details.push_back({{"type", d.type},
                           {"loc", nlohmann::json::array({"body", d.field})},
                           {"msg", d.message},
                           {"input", d.input}});
      err["details"] = std::move(details);
    }
    body["error"] = std::move(err);
  } else {
    nlohmann::json errors = nlohmann::json::array();
    if (e.details.empty()) {
      errors.push_back({{"title", message}, {"code", code}});
    } else {
      for (const auto& d : e.details)
        errors.push_back({{"title", message}, {"code", code}, {"detail", d.message}});
    }
    body["errors"] = std::move(errors);
  }
  return body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace bgerase::api
