// Encryption of object bytes at rest: libsodium secretstream (XChaCha20-Poly1305) in 64 KiB
// chunks under a per-object random key, with the object id as associated data so a blob cannot
// be passed off as another object's. A truncated, extended, swapped or tampered blob fails to open.
//
// Blob layout: "BGEB" | version (1 byte) | secretstream header (24 bytes) | chunks, each the
// encryption of up to 64 KiB of plaintext; the last chunk carries the FINAL tag.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

#include "common/status.h"
#include "store/types.h"

namespace bgerase::store {

using ObjectKey = std::array<std::uint8_t, 32>;

// A fresh random key. Thread-safe.
ObjectKey GenerateObjectKey();

// Encrypts `plaintext` for the object `object_id`.
Bytes SealBlob(const ObjectKey& key, std::string_view object_id, ByteView plaintext);

// Decrypts a blob made by SealBlob with the same key and object id; "corrupt_blob" otherwise.
Result<Bytes> OpenBlob(const ObjectKey& key, std::string_view object_id, ByteView blob);

// Overwrites the key in memory (sodium_memzero), for keys that leave scope.
void WipeKey(ObjectKey& key);

}  // namespace bgerase::store
