// ZipWriter: local headers, data, central directory and end record (APPNOTE 6.3, method 0).
#include "store/zip_writer.h"

#include <array>
#include <ctime>

#include "store/errors.h"

namespace bgerase::store {
namespace {

const std::array<std::uint32_t, 256>& CrcTable() {
  static const auto table = [] {
    std::array<std::uint32_t, 256> t{};
    for (std::uint32_t i = 0; i < 256; ++i) {
      std::uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  return table;
}

void Put16(std::string& b, std::uint16_t v) {
  b.push_back(static_cast<char>(v & 0xff));
  b.push_back(static_cast<char>(v >> 8));
}

void Put32(std::string& b, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) b.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

constexpr std::uint64_t kMax32 = 0xffffffffu;

}  // namespace

std::uint32_t Crc32(ByteView data, std::uint32_t crc) {
  const auto& t = CrcTable();
  crc = ~crc;
  for (std::uint8_t b : data) crc = t[(crc ^ b) & 0xff] ^ (crc >> 8);
  return ~crc;
}

Status ZipWriter::Add(std::string_view name, ByteView data, Time modified) {
  if (name.empty() || name.front() == '/' || name.size() > 0xffff) {
    return Status(errors::kInvalidArgument, "bad zip entry name");
  }
  if (data.size() >= kMax32 || offset_ + data.size() + 30 + name.size() >= kMax32 ||
      entries_.size() >= 0xffff) {
    return Status(errors::kStorageError, "export too large for a zip without zip64");
  }
  Entry e;
  e.name = std::string(name);
  e.crc = Crc32(data);
  e.size = static_cast<std::uint32_t>(data.size());
  e.offset = static_cast<std::uint32_t>(offset_);
  // MS-DOS date/time in UTC; zip has no time zone field.
  const std::time_t tt = static_cast<std::time_t>(ToMillis(modified) / 1000);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  const int year = tm.tm_year + 1900 < 1980 ? 1980 : tm.tm_year + 1900;
  e.dos_time = static_cast<std::uint16_t>((tm.tm_hour << 11) | (tm.tm_min << 5) | (tm.tm_sec / 2));
  e.dos_date =
      static_cast<std::uint16_t>(((year - 1980) << 9) | ((tm.tm_mon + 1) << 5) | tm.tm_mday);

  std::string h;
  Put32(h, 0x04034b50);
  Put16(h, 20);       // version needed: 2.0
  Put16(h, 1 << 11);  // flags: names are UTF-8
  Put16(h, 0);        // method: stored
  Put16(h, e.dos_time);
  Put16(h, e.dos_date);
  Put32(h, e.crc);
  Put32(h, e.size);
  Put32(h, e.size);
  Put16(h, static_cast<std::uint16_t>(e.name.size()));
  Put16(h, 0);
  h += e.name;
  out_.write(h.data(), static_cast<std::streamsize>(h.size()));
  out_.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
  if (!out_) return Status(errors::kStorageError, "cannot write zip");
  offset_ += h.size() + data.size();
  entries_.push_back(std::move(e));
  return Status::Ok();
}

Status ZipWriter::Finish() {
  std::string cd;
  for (const Entry& e : entries_) {
    Put32(cd, 0x02014b50);
    Put16(cd, (3 << 8) | 20);  // made by: Unix, 2.0
    Put16(cd, 20);
    Put16(cd, 1 << 11);
    Put16(cd, 0);
    Put16(cd, e.dos_time);
    Put16(cd, e.dos_date);
    Put32(cd, e.crc);
    Put32(cd, e.size);
    Put32(cd, e.size);
    Put16(cd, static_cast<std::uint16_t>(e.name.size()));
    Put16(cd, 0);               // extra
    Put16(cd, 0);               // comment
    Put16(cd, 0);               // disk
    Put16(cd, 0);               // internal attributes
    Put32(cd, 0100600u << 16);  // external attributes: regular file, rw-------
    Put32(cd, e.offset);
    cd += e.name;
  }
  if (offset_ + cd.size() >= kMax32) {
    return Status(errors::kStorageError, "export too large for a zip without zip64");
  }
  std::string end;
  Put32(end, 0x06054b50);
  Put16(end, 0);
  Put16(end, 0);
  Put16(end, static_cast<std::uint16_t>(entries_.size()));
  Put16(end, static_cast<std::uint16_t>(entries_.size()));
  Put32(end, static_cast<std::uint32_t>(cd.size()));
  Put32(end, static_cast<std::uint32_t>(offset_));
  Put16(end, 0);
  out_.write(cd.data(), static_cast<std::streamsize>(cd.size()));
  out_.write(end.data(), static_cast<std::streamsize>(end.size()));
  out_.flush();
  if (!out_) return Status(errors::kStorageError, "cannot write zip");
  return Status::Ok();
}

}  // namespace bgerase::store
