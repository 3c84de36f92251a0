// Hashing, MACs, randomness and byte encodings over OpenSSL, with bytes carried in std::string.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace bp::crypto {

// SHA-256 as lowercase hex (64 chars).
std::string sha256_hex(std::string_view data);
// The same into a buffer of the caller's, allocating nothing (the gateway hashes a key per request).
void sha256_hex_to(std::string_view data, char (&out)[64]);
// SHA-256 as 32 raw bytes.
std::string sha256_raw(std::string_view data);
// HMAC-SHA256 as 32 raw bytes.
std::string hmac_sha256(std::string_view key, std::string_view msg);
// n bytes from the OpenSSL CSPRNG; throws std::runtime_error if it cannot deliver (truly exceptional).
std::string random_bytes(std::size_t n);

// Lowercase hex.
std::string hex_encode(std::string_view bytes);
// The same into `out`, which has room for 2 * bytes.size() chars.
void hex_encode_to(std::string_view bytes, char* out);
// Accepts either case; nullopt on odd length or a non-hex character.
std::optional<std::string> hex_decode(std::string_view hex);
// RFC 4648 standard alphabet with '=' padding.
std::string base64_encode(std::string_view bytes);
// Strict inverse of base64_encode: nullopt on bad length, bad characters, misplaced padding or
// non-zero unused bits, so every accepted text has exactly one decoding.
std::optional<std::string> base64_decode(std::string_view text);
// The bytes as one big-endian number in base 62 (0-9A-Za-z); each leading zero byte becomes a
// leading '0', as base58 does, so leading zeros survive.
std::string base62_encode(std::string_view bytes);

// Compares contents in time independent of where they differ (CRYPTO_memcmp). Different lengths
// are false at once: only the length, never a matching prefix, is revealed.
bool constant_time_equal(std::string_view a, std::string_view b);

}  // namespace bp::crypto
