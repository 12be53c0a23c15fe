// A minimal zip writer: stored (uncompressed) entries with CRC-32, streamed to an ostream. Enough
// for data exports of images, which do not compress anyway. No zip64: entries and archives are
// limited to 4 GiB and 65535 entries, refused beyond that.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "store/types.h"

namespace bgerase::store {

// CRC-32 (ISO 3309 / zip polynomial 0xEDB88320).
std::uint32_t Crc32(ByteView data, std::uint32_t crc = 0);

// Not thread-safe; one writer per stream. Call Finish() once after the last Add().
class ZipWriter {
 public:
  explicit ZipWriter(std::ostream& out) : out_(out) {}

  // Appends an entry. `name` uses '/' separators and must be relative.
  Status Add(std::string_view name, ByteView data, Time modified);
  // Writes the central directory; the archive is valid only after this.
  Status Finish();

 private:
  struct Entry {
    std::string name;
    std::uint32_t crc = 0;
    std::uint32_t size = 0;
    std::uint32_t offset = 0;
    std::uint16_t dos_time = 0;
    std::uint16_t dos_date = 0;
  };
  std::ostream& out_;
  std::uint64_t offset_ = 0;
  std::vector<Entry> entries_;
};

}  // namespace bgerase::store
