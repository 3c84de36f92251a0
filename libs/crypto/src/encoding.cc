// Hex, base64 and base62 encodings of raw bytes, written out so that decoding is strict.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "bp/crypto.h"

namespace bp::crypto {

namespace {

constexpr char kHexDigits[] = "0123456789abcdef";
constexpr char kBase64Alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr char kBase62Alphabet[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
constexpr int kInvalid = -1;

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return kInvalid;
}

// Reverse lookup built from the alphabet itself so the two can never disagree.
const std::array<int, 256>& base64_values() {
  static const std::array<int, 256> kValues = [] {
    std::array<int, 256> v{};
    v.fill(kInvalid);
    for (int i = 0; i < 64; ++i) v[static_cast<unsigned char>(kBase64Alphabet[i])] = i;
    return v;
  }();
  return kValues;
}

}  // namespace

std::string hex_encode(std::string_view bytes) {
  std::string out(bytes.size() * 2, '\0');
  hex_encode_to(bytes, out.data());
  return out;
}

void hex_encode_to(std::string_view bytes, char* out) {
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    auto b = static_cast<unsigned char>(bytes[i]);
    out[2 * i] = kHexDigits[b >> 4];
    out[2 * i + 1] = kHexDigits[b & 0x0f];
  }
}

std::optional<std::string> hex_decode(std::string_view hex) {
  if (hex.size() % 2 != 0) return std::nullopt;
  std::string out;
  out.reserve(hex.size() / 2);
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    int hi = hex_value(hex[i]);
    int lo = hex_value(hex[i + 1]);
    if (hi == kInvalid || lo == kInvalid) return std::nullopt;
    out.push_back(static_cast<char>((hi << 4) | lo));
  }
  return out;
}

std::string base64_encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (std::size_t i = 0; i < bytes.size(); i += 3) {
    std::size_t n = std::min<std::size_t>(3, bytes.size() - i);
    uint32_t group = 0;
    for (std::size_t j = 0; j < 3; ++j) {
      group = (group << 8) | (j < n ? static_cast<unsigned char>(bytes[i + j]) : 0u);
    }
    // n input bytes fill n + 1 sextets; the rest of the quantum is padding.
    for (std::size_t j = 0; j < 4; ++j) {
      out.push_back(j <= n ? kBase64Alphabet[(group >> (18 - 6 * j)) & 0x3f] : '=');
    }
  }
  return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  std::size_t padding = 0;
  while (padding < 2 && padding < text.size() && text[text.size() - 1 - padding] == '=') ++padding;
  const auto& values = base64_values();
  std::string out;
  out.reserve(text.size() / 4 * 3);
  const std::size_t data_chars = text.size() - padding;
  for (std::size_t i = 0; i < text.size(); i += 4) {
    uint32_t group = 0;
    std::size_t sextets = 0;
    for (std::size_t j = 0; j < 4; ++j) {
      group <<= 6;
      if (i + j >= data_chars) continue;  // padding, counted above, only at the very end
      int v = values[static_cast<unsigned char>(text[i + j])];
      if (v == kInvalid) return std::nullopt;  // includes a '=' anywhere but the end
      group |= static_cast<uint32_t>(v);
      ++sextets;
    }
    const std::size_t n = sextets - 1;  // bytes carried by this quantum
    // Bits below the last byte must be zero, or two texts would decode to the same bytes.
    if (sextets < 4 && (group & ((1u << (24 - 8 * n)) - 1)) != 0) return std::nullopt;
    for (std::size_t j = 0; j < n; ++j) out.push_back(static_cast<char>((group >> (16 - 8 * j)) & 0xff));
  }
  return out;
}

std::string base62_encode(std::string_view bytes) {
  std::size_t zeros = 0;
  while (zeros < bytes.size() && bytes[zeros] == '\0') ++zeros;
  // Schoolbook long division of the big-endian number by 62; inputs are keys and checksums, so
  // quadratic time is irrelevant.
  std::vector<uint8_t> number(bytes.begin() + static_cast<std::ptrdiff_t>(zeros), bytes.end());
  std::string digits;
  while (!number.empty()) {
    uint32_t remainder = 0;
    std::vector<uint8_t> quotient;
    quotient.reserve(number.size());
    for (uint8_t b : number) {
      uint32_t acc = (remainder << 8) | b;
      if (!quotient.empty() || acc / 62 != 0) quotient.push_back(static_cast<uint8_t>(acc / 62));
      remainder = acc % 62;
    }
    digits.push_back(kBase62Alphabet[remainder]);
    number = std::move(quotient);
  }
  return std::string(zeros, '0') + std::string(digits.rbegin(), digits.rend());
}

}  // namespace bp::crypto
