// Generation and offline validation of bp_v1_ API keys.
#include "bp/api_key.h"

#include <array>
#include <cstddef>
#include <cstdint>
#include <utility>

#include "bp/crypto.h"

namespace bp::crypto {

namespace {

constexpr std::string_view kPrefix = "bp_v1_";
constexpr std::size_t kRandomBytes = 32;
// 62^43 > 2^256 > 62^42, and 62^6 > 2^32 > 62^5: the widest values fit, so lengths never vary.
constexpr std::size_t kBodyLength = 43;
constexpr std::size_t kChecksumLength = 6;
constexpr std::size_t kSecretLength = kPrefix.size() + kBodyLength + kChecksumLength;
constexpr std::size_t kDisplayPrefixLength = 12;

// CRC-32 as zlib computes it (reflected polynomial 0xEDB88320), so scanners can use any stock crc32.
uint32_t crc32(std::string_view data) {
  static const std::array<uint32_t, 256> kTable = [] {
    std::array<uint32_t, 256> table{};
    for (uint32_t i = 0; i < table.size(); ++i) {
      uint32_t c = i;
      for (int bit = 0; bit < 8; ++bit) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      table[i] = c;
    }
    return table;
  }();
  uint32_t crc = 0xFFFFFFFFu;
  for (unsigned char b : data) crc = kTable[(crc ^ b) & 0xff] ^ (crc >> 8);
  return crc ^ 0xFFFFFFFFu;
}

// Base62 left-padded with '0' (a zero digit), so the text stays the same number at a fixed width.
std::string base62_fixed(std::string_view bytes, std::size_t width) {
  std::string digits = base62_encode(bytes);
  return std::string(width - digits.size(), '0') + digits;
}

std::string checksum_of(std::string_view head) {
  const uint32_t crc = crc32(head);
  const char big_endian[] = {static_cast<char>(crc >> 24), static_cast<char>(crc >> 16), static_cast<char>(crc >> 8),
                             static_cast<char>(crc)};
  return base62_fixed(std::string_view(big_endian, sizeof(big_endian)), kChecksumLength);
}

bool is_base62(char c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }

}  // namespace

GeneratedApiKey generate_api_key() {
  std::string head = std::string(kPrefix) + base62_fixed(random_bytes(kRandomBytes), kBodyLength);
  std::string secret = head + checksum_of(head);
  GeneratedApiKey key;
  key.prefix = api_key_prefix(secret);
  key.sha256_hex = crypto::sha256_hex(secret);
  key.secret = std::move(secret);
  return key;
}

bool api_key_well_formed(std::string_view text) {
  if (text.size() != kSecretLength || !text.starts_with(kPrefix)) return false;
  const std::string_view rest = text.substr(kPrefix.size());
  for (char c : rest) {
    if (!is_base62(c)) return false;
  }
  const std::string_view head = text.substr(0, kSecretLength - kChecksumLength);
  return text.substr(head.size()) == checksum_of(head);
}

std::string api_key_prefix(std::string_view secret) { return std::string(secret.substr(0, kDisplayPrefixLength)); }

}  // namespace bp::crypto
