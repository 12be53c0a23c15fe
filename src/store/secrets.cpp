// Random ids and secret hashes on libsodium.
#include "store/secrets.h"

#include <sodium.h>

#include <cstdint>

namespace bgerase::store {

std::string RandomHex32() {
  std::uint8_t raw[32];
  randombytes_buf(raw, sizeof raw);
  char hex[65];
  sodium_bin2hex(hex, sizeof hex, raw, sizeof raw);
  sodium_memzero(raw, sizeof raw);
  return std::string(hex, 64);
}

Bytes RandomBytes(std::size_t n) {
  Bytes out(n);
  randombytes_buf(out.data(), out.size());
  return out;
}

std::string RandomId(std::string_view prefix) {
  std::uint8_t raw[16];
  randombytes_buf(raw, sizeof raw);
  char hex[33];
  sodium_bin2hex(hex, sizeof hex, raw, sizeof raw);
  return std::string(prefix) + std::string(hex, 32);
}

Bytes SecretHash(std::string_view secret) {
  Bytes out(crypto_generichash_BYTES);
  crypto_generichash(out.data(), out.size(), reinterpret_cast<const unsigned char*>(secret.data()),
                     secret.size(), nullptr, 0);
  return out;
}

bool SecretHashEquals(const Bytes& stored, const Bytes& presented) {
  return stored.size() == presented.size() &&
         sodium_memcmp(stored.data(), presented.data(), presented.size()) == 0;
}

void WipeBytes(Bytes& bytes) {
  sodium_memzero(bytes.data(), bytes.size());
}

}  // namespace bgerase::store
