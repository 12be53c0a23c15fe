// The zip writer (store/zip_writer.h) round trip: archives built from fuzz-derived entries, read
// back by a small reader written here from APPNOTE 6.3 (end record, central directory, local
// headers), which shares no code with the writer. Input: a flags byte (bit 0: a time span four
// times as wide; bit 1: one entry's name is stretched past 65535 bytes), four bytes of
// modification time (signed seconds from 1980-01-01 UTC), then entries: a name length byte, the
// name, a little-endian u16 n and, if n's top bit is clear, n data bytes from the input, else
// (n & 0x7fff) * 2 bytes made from a seed byte.
// Invariants:
// - Add refuses exactly what it documents (an empty name, a leading '/', a name over 65535
//   bytes: invalid_argument) and a refused entry leaves the archive as if it was never offered;
//   65536 entries and 4 GiB of data are refused too (storage_error; checked once, at start);
// - the archive is exactly: one local header + data per accepted entry, back to back from
//   offset 0, then the central directory, then the end record, with no gap or trailing byte;
// - each entry's name, size, CRC-32 (recomputed here bit by bit) and bytes survive, the local
//   header and its central entry agree (times, sizes, CRC, name, offset), the method is
//   "stored" and the UTF-8 flag is set;
// - the DOS time and date are always valid fields, and exact (to 2 s) for 1980..2107;
// - Crc32 chains: Crc32(b, Crc32(a)) == Crc32(a + b).
#include <sys/mman.h>

#include <ctime>
#include <sstream>
#include <string>
#include <vector>

#include "fuzz_driver.h"
#include "store/errors.h"
#include "store/zip_writer.h"

using bgerase::store::AsBytes;
using bgerase::store::ByteView;
using bgerase::store::Crc32;
using bgerase::store::FromMillis;
using bgerase::store::ZipWriter;

namespace {

constexpr int64_t k1980 = 315532800;  // 1980-01-01T00:00:00Z in Unix seconds

uint32_t BitwiseCrc32(const std::string& s) {
  uint32_t c = 0xffffffffu;
  for (unsigned char b : s) {
    c ^= b;
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1)));
  }
  return ~c;
}

// Little-endian reads that refuse to run past the archive.
struct Reader {
  const std::string& s;
  bool Has(size_t at, size_t n) const { return at <= s.size() && n <= s.size() - at; }
  uint32_t U16(size_t at) const {
    FUZZ_CHECK(Has(at, 2));
    return static_cast<uint8_t>(s[at]) | static_cast<uint8_t>(s[at + 1]) << 8;
  }
  uint32_t U32(size_t at) const { return U16(at) | U16(at + 2) << 16; }
};

struct Entry {
  std::string name;
  std::string data;
};

// What the end of the zip time range allows: DOS years are 7 bits from 1980.
void CheckDosTime(uint32_t time, uint32_t date, int64_t unix_seconds) {
  FUZZ_CHECK((time >> 11) < 24 && ((time >> 5) & 63) < 60 && (time & 31) < 30);
  FUZZ_CHECK(((date >> 5) & 15) >= 1 && ((date >> 5) & 15) <= 12);
  FUZZ_CHECK((date & 31) >= 1 && (date & 31) <= 31);
  std::tm tm{};
  const std::time_t tt = unix_seconds;
  gmtime_r(&tt, &tm);
  if (tm.tm_year + 1900 < 1980 || tm.tm_year + 1900 > 2107) return;
  FUZZ_CHECK(static_cast<int>(date >> 9) == tm.tm_year + 1900 - 1980);
  FUZZ_CHECK(static_cast<int>((date >> 5) & 15) == tm.tm_mon + 1);
  FUZZ_CHECK(static_cast<int>(date & 31) == tm.tm_mday);
  FUZZ_CHECK(static_cast<int>(time >> 11) == tm.tm_hour);
  FUZZ_CHECK(static_cast<int>((time >> 5) & 63) == tm.tm_min);
  FUZZ_CHECK(static_cast<int>(time & 31) == tm.tm_sec / 2);
}

// Reads `zip` back and checks it holds exactly `entries`.
void CheckArchive(const std::string& zip, const std::vector<Entry>& entries, int64_t seconds) {
  const Reader r{zip};
  FUZZ_CHECK(zip.size() >= 22);
  const size_t end = zip.size() - 22;
  FUZZ_CHECK(r.U32(end) == 0x06054b50);
  FUZZ_CHECK(r.U16(end + 4) == 0 && r.U16(end + 6) == 0);  // this disk, the directory's disk
  FUZZ_CHECK(r.U16(end + 8) == entries.size() && r.U16(end + 10) == entries.size());
  const size_t cd_size = r.U32(end + 12);
  const size_t cd_offset = r.U32(end + 16);
  FUZZ_CHECK(r.U16(end + 20) == 0);  // no comment
  FUZZ_CHECK(cd_offset + cd_size == end);

  size_t local = 0;
  size_t central = cd_offset;
  for (const Entry& e : entries) {
    // Central directory entry.
    FUZZ_CHECK(r.U32(central) == 0x02014b50);
    FUZZ_CHECK(r.U16(central + 6) == 20);  // version needed
    const uint32_t flags = r.U16(central + 8);
    FUZZ_CHECK(flags & (1u << 11));        // UTF-8 names
    FUZZ_CHECK(r.U16(central + 10) == 0);  // stored
    const uint32_t time = r.U16(central + 12);
    const uint32_t date = r.U16(central + 14);
    const uint32_t crc = r.U32(central + 16);
    FUZZ_CHECK(r.U32(central + 20) == e.data.size() && r.U32(central + 24) == e.data.size());
    const size_t name_len = r.U16(central + 28);
    FUZZ_CHECK(r.U16(central + 30) == 0 && r.U16(central + 32) == 0);  // extra, comment
    FUZZ_CHECK(r.U16(central + 34) == 0);                              // disk
    FUZZ_CHECK(r.U32(central + 42) == local);
    FUZZ_CHECK(r.Has(central + 46, name_len));
    FUZZ_CHECK(zip.compare(central + 46, name_len, e.name) == 0 && name_len == e.name.size());
    FUZZ_CHECK(crc == BitwiseCrc32(e.data));
    CheckDosTime(time, date, seconds);
    central += 46 + name_len;

    // Its local header and data.
    FUZZ_CHECK(r.U32(local) == 0x04034b50);
    FUZZ_CHECK(r.U16(local + 4) == 20);
    FUZZ_CHECK(r.U16(local + 6) == flags);
    FUZZ_CHECK(r.U16(local + 8) == 0);
    FUZZ_CHECK(r.U16(local + 10) == time && r.U16(local + 12) == date);
    FUZZ_CHECK(r.U32(local + 14) == crc);
    FUZZ_CHECK(r.U32(local + 18) == e.data.size() && r.U32(local + 22) == e.data.size());
    FUZZ_CHECK(r.U16(local + 26) == e.name.size() && r.U16(local + 28) == 0);
    FUZZ_CHECK(zip.compare(local + 30, e.name.size(), e.name) == 0);
    const size_t at = local + 30 + e.name.size();
    FUZZ_CHECK(r.Has(at, e.data.size()) && zip.compare(at, e.data.size(), e.data) == 0);
    local = at + e.data.size();
  }
  FUZZ_CHECK(local == cd_offset);  // nothing between the last entry and the directory
  FUZZ_CHECK(central == end);      // nothing between the directory and the end record
}

// The limits no fuzz input is big enough to reach, checked once.
bool CheckCountAndSizeLimits() {
  const auto t = FromMillis(1'700'000'000'000);
  std::ostringstream many;
  ZipWriter w(many);
  for (int i = 0; i < 0xffff; ++i) FUZZ_CHECK(w.Add("e", {}, t).ok());
  FUZZ_CHECK(w.Add("one-too-many", {}, t).code() == bgerase::store::errors::kStorageError);
  FUZZ_CHECK(w.Finish().ok());
  std::vector<Entry> empties(0xffff, Entry{"e", ""});
  CheckArchive(many.str(), empties, 1'700'000'000);

  // 4 GiB of address space that is never touched (the writer refuses before it reads).
  const size_t huge = size_t{1} << 32;
  void* map = mmap(nullptr, huge, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (map == MAP_FAILED) return true;  // no address space for it here: skip, not a failure
  const ByteView big(static_cast<const uint8_t*>(map), huge);
  std::ostringstream out;
  ZipWriter z(out);
  FUZZ_CHECK(z.Add("big", big, t).code() == bgerase::store::errors::kStorageError);
  FUZZ_CHECK(z.Add("a", AsBytes("x"), t).ok());
  // Fits alone, but not after the first entry: offsets would pass 32 bits.
  FUZZ_CHECK(z.Add("b", big.first(huge - 40), t).code() == bgerase::store::errors::kStorageError);
  FUZZ_CHECK(z.Finish().ok());
  CheckArchive(out.str(), {{"a", "x"}}, 1'700'000'000);
  munmap(map, huge);
  return true;
}

}  // namespace

std::vector<std::string> FuzzSeeds() {
  auto entry = [](const std::string& name, const std::string& data) {
    return std::string(1, static_cast<char>(name.size())) + name +
           static_cast<char>(data.size() & 0xff) + static_cast<char>(data.size() >> 8) + data;
  };
  return {
      std::string("\x00\x10\x32\x54\x76", 5) + entry("color.jpg", "\xff\xd8\xff") +
          entry("alpha.png", "\x89PNG"),
      std::string("\x01\xff\xff\xff\xff", 5) +
          entry("items/\xc3\xa9t\xc3\xa9/r\xc3\xa9sult.png", "") + entry("", "refused") +
          entry("/abs", "refused") + entry("a\\b/../c\x01\xff", "odd"),
      std::string("\x02\x00\x00\x00\x80", 5) + entry("long", "x") +
          std::string("\x03n.b\x10\x90\x07", 7),  // 0x9010: 16 * 2 generated bytes
  };
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool limits = CheckCountAndSizeLimits();
  FUZZ_CHECK(limits);
  if (size < 5) return 0;
  const uint8_t flags = data[0];
  const int32_t offset = static_cast<int32_t>(data[1] | data[2] << 8 | data[3] << 16 |
                                              static_cast<uint32_t>(data[4]) << 24);
  const int64_t seconds = k1980 + static_cast<int64_t>(offset) * (flags & 1 ? 4 : 1);
  const auto when = FromMillis(seconds * 1000);

  std::ostringstream out;
  ZipWriter writer(out);
  std::vector<Entry> kept;
  bool stretched = false;
  size_t at = 5;
  while (at < size) {
    Entry e;
    const size_t wanted = data[at++];
    const size_t name_len = std::min(wanted, size - at);
    e.name.assign(reinterpret_cast<const char*>(data) + at, name_len);
    at += name_len;
    if ((flags & 2) && !stretched && !e.name.empty()) {
      stretched = true;
      while (e.name.size() <= 0xffff) e.name += e.name;
    }
    uint32_t n = 0;
    if (at < size) n = data[at++];
    if (at < size) n |= static_cast<uint32_t>(data[at++]) << 8;
    if (n & 0x8000) {
      uint32_t x = 0x9e3779b9u ^ (at < size ? data[at++] : 0);
      for (uint32_t i = 0; i < (n & 0x7fff) * 2; ++i) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        e.data += static_cast<char>(x);
      }
    } else {
      const size_t len = std::min<size_t>(n, size - at);
      e.data.assign(reinterpret_cast<const char*>(data) + at, len);
      at += len;
    }
    const bool refuse = e.name.empty() || e.name.front() == '/' || e.name.size() > 0xffff;
    const auto st = writer.Add(e.name, AsBytes(e.data), when);
    if (refuse) {
      FUZZ_CHECK(st.code() == bgerase::store::errors::kInvalidArgument);
      continue;
    }
    FUZZ_CHECK(st.ok());
    // The CRC chains across pieces, as its `crc` argument promises.
    const size_t cut = e.data.size() / 3;
    FUZZ_CHECK(Crc32(AsBytes(std::string_view(e.data).substr(cut)),
                     Crc32(AsBytes(std::string_view(e.data).substr(0, cut)))) ==
               Crc32(AsBytes(e.data)));
    kept.push_back(std::move(e));
  }
  FUZZ_CHECK(writer.Finish().ok());
  CheckArchive(out.str(), kept, seconds);
  return 0;
}
