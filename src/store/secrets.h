// Random identifiers and the hashing of high-entropy secrets (API keys, session tokens, CSRF
// tokens). Public: the web layer mints its tokens here too, so there is one source of randomness.
#pragma once

#include <string>
#include <string_view>

#include "store/types.h"

namespace bgerase::store {

// "prefix" + 32 random hex digits (128 bits), for ids that must not be guessable.
std::string RandomId(std::string_view prefix);
// 32 random bytes as 64 lower-case hex digits.
std::string RandomHex32();
// `n` random bytes (libsodium), for keys.
Bytes RandomBytes(std::size_t n);
// BLAKE2b-256 of `secret`. Enough for API keys and session tokens, which carry 256 random bits;
// passwords need HashPassword (credentials.h) instead.
Bytes SecretHash(std::string_view secret);
// Constant-time comparison of two SecretHash values; false when their sizes differ.
bool SecretHashEquals(const Bytes& stored, const Bytes& presented);
// Overwrites `bytes` with zeros in a way the compiler keeps, for key material leaving scope.
void WipeBytes(Bytes& bytes);

}  // namespace bgerase::store
