// Status and Result<T>: how errors cross module boundaries. A Status carries a stable,
// machine-readable code (the same strings the HTTP API returns, e.g. "corrupt_image") and a
// message a person can act on. api/ maps codes to HTTP statuses; nothing else interprets them.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace bgerase {

class Status {
 public:
  // The success value. ok() is true and code() is empty.
  Status() = default;
  Status(std::string code, std::string message)
      : code_(std::move(code)), message_(std::move(message)) {}

  static Status Ok() { return Status(); }

  bool ok() const { return code_.empty(); }
  // Stable identifier such as "model_missing"; empty when ok().
  const std::string& code() const { return code_; }
  const std::string& message() const { return message_; }
  // "code: message", for logs and CLI output.
  std::string ToString() const { return ok() ? "ok" : code_ + ": " + message_; }

 private:
  std::string code_;
  std::string message_;
};

// Either a value or a non-ok Status. Accessing value() on an error aborts, so callers check ok().
template <typename T>
class Result {
 public:
  Result(T value) : v_(std::move(value)) {}         // NOLINT(google-explicit-constructor)
  Result(Status status) : v_(std::move(status)) {}  // NOLINT(google-explicit-constructor)

  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::get<T>(std::move(v_)); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace bgerase

// Returns early from the enclosing function when `expr` yields a non-ok Status.
#define BGERASE_RETURN_IF_ERROR(expr) \
  do {                                \
    ::bgerase::Status _st = (expr);   \
    if (!_st.ok()) return _st;        \
  } while (0)
