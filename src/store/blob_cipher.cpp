// SealBlob / OpenBlob over libsodium's secretstream.
#include "store/blob_cipher.h"

#include <sodium.h>

#include <cstring>
#include <stdexcept>

#include "store/errors.h"

namespace bgerase::store {
namespace {

constexpr std::uint8_t kMagic[4] = {'B', 'G', 'E', 'B'};
constexpr std::uint8_t kVersion = 1;
constexpr std::size_t kChunk = 64 * 1024;
constexpr std::size_t kHeader = crypto_secretstream_xchacha20poly1305_HEADERBYTES;
constexpr std::size_t kPrefix = sizeof kMagic + 1 + kHeader;
constexpr std::size_t kAbytes = crypto_secretstream_xchacha20poly1305_ABYTES;

static_assert(crypto_secretstream_xchacha20poly1305_KEYBYTES == sizeof(ObjectKey));

void EnsureSodium() {
  // sodium_init is idempotent and thread-safe; calling it here keeps every entry point safe.
  if (sodium_init() < 0) throw std::runtime_error("libsodium failed to initialise");
}

const unsigned char* Ad(std::string_view id) {
  return reinterpret_cast<const unsigned char*>(id.data());
}

}  // namespace

ObjectKey GenerateObjectKey() {
  EnsureSodium();
  ObjectKey key;
  crypto_secretstream_xchacha20poly1305_keygen(key.data());
  return key;
}

void WipeKey(ObjectKey& key) {
  sodium_memzero(key.data(), key.size());
}

Bytes SealBlob(const ObjectKey& key, std::string_view object_id, ByteView plaintext) {
  EnsureSodium();
  const std::size_t chunks = plaintext.empty() ? 1 : (plaintext.size() + kChunk - 1) / kChunk;
  Bytes out(kPrefix + plaintext.size() + chunks * kAbytes);
  std::memcpy(out.data(), kMagic, sizeof kMagic);
  out[sizeof kMagic] = kVersion;
  crypto_secretstream_xchacha20poly1305_state st;
  crypto_secretstream_xchacha20poly1305_init_push(&st, out.data() + sizeof kMagic + 1, key.data());
  std::size_t in_off = 0;
  std::size_t out_off = kPrefix;
  for (std::size_t c = 0; c < chunks; ++c) {
    const std::size_t n = std::min(kChunk, plaintext.size() - in_off);
    const bool last = c + 1 == chunks;
    unsigned long long written = 0;
    crypto_secretstream_xchacha20poly1305_push(
        &st, out.data() + out_off, &written, plaintext.data() + in_off, n, Ad(object_id),
        object_id.size(),
        last ? crypto_secretstream_xchacha20poly1305_TAG_FINAL
             : crypto_secretstream_xchacha20poly1305_TAG_MESSAGE);
    in_off += n;
    out_off += static_cast<std::size_t>(written);
  }
  sodium_memzero(&st, sizeof st);
  out.resize(out_off);
  return out;
}

Result<Bytes> OpenBlob(const ObjectKey& key, std::string_view object_id, ByteView blob) {
  EnsureSodium();
  const Status corrupt(errors::kCorruptBlob, "stored object cannot be decrypted");
  if (blob.size() < kPrefix + kAbytes || std::memcmp(blob.data(), kMagic, sizeof kMagic) != 0 ||
      blob[sizeof kMagic] != kVersion) {
    return corrupt;
  }
  crypto_secretstream_xchacha20poly1305_state st;
  if (crypto_secretstream_xchacha20poly1305_init_pull(&st, blob.data() + sizeof kMagic + 1,
                                                      key.data()) != 0) {
    return corrupt;
  }
  // Every chunk carries exactly kAbytes of overhead, so the plaintext fits in blob - prefix;
  // decrypt in place into the output instead of through a bounce buffer.
  Bytes out(blob.size() - kPrefix);
  std::size_t off = kPrefix;
  std::size_t out_off = 0;
  bool final_seen = false;
  while (off < blob.size()) {
    if (final_seen) return corrupt;  // data after the final chunk
    const std::size_t n = std::min(kChunk + kAbytes, blob.size() - off);
    if (n < kAbytes) return corrupt;
    unsigned long long got = 0;
    unsigned char tag = 0;
    if (crypto_secretstream_xchacha20poly1305_pull(&st, out.data() + out_off, &got, &tag,
                                                   blob.data() + off, n, Ad(object_id),
                                                   object_id.size()) != 0) {
      sodium_memzero(&st, sizeof st);
      return corrupt;
    }
    out_off += static_cast<std::size_t>(got);
    final_seen = tag == crypto_secretstream_xchacha20poly1305_TAG_FINAL;
    off += n;
  }
  sodium_memzero(&st, sizeof st);
  if (!final_seen) return corrupt;  // truncated
  out.resize(out_off);
  return out;
}

}  // namespace bgerase::store
