// How a database backend fails: DbError carries a Status out of deep code, and Guard turns it
// (and any other exception) back into the Status an interface method returns. Internal to
// src/store.
#pragma once

#include <exception>
#include <stdexcept>
#include <utility>

#include "common/status.h"
#include "store/errors.h"

namespace bgerase::store {

// A failure inside a backend, carrying the Status to return.
class DbError : public std::runtime_error {
 public:
  explicit DbError(Status s) : std::runtime_error(s.ToString()), status_(std::move(s)) {}
  const Status& status() const { return status_; }

 private:
  Status status_;
};

// Runs `f`, turning backend exceptions into the Status its Result/Status return type carries.
template <typename F>
auto Guard(F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const DbError& e) {
    return e.status();
  } catch (const std::exception& e) {
    return Status(errors::kDatabaseError, e.what());
  }
}

}  // namespace bgerase::store
