// Process-wide libvips start-up and the libvips settings bgerase relies on.
#include <mutex>

#include "imaging/imaging.h"

namespace bgerase::imaging {

Status InitVips() {
  static std::once_flag once;
  static Status status;
  std::call_once(once, [] {
    if (VIPS_INIT("bgerase") != 0) {
      status =
          Status("internal_error", std::string("libvips failed to start: ") + vips_error_buffer());
      vips_error_clear();
      return;
    }
    // The operation cache would keep finished pipelines - and the customer's decoded pixels
    // they reference - alive after a request; nothing we do repeats an operation, so turn it off.
    vips_cache_set_max(0);
  });
  return status;
}

}  // namespace bgerase::imaging
