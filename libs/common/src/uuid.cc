// Random v4 UUIDs and canonical-form validation.
#include "bp/uuid.h"

#include <array>
#include <cstdint>
#include <random>

namespace bp::uuid {

namespace {

// Seeded with 256 bits from the OS: a single 32-bit seed would let two processes (or threads)
// draw the same sequence once in 2^32 starts, and request ids deduplicate in JetStream.
std::mt19937_64 seeded() {
  std::random_device device;
  std::seed_seq seq{device(), device(), device(), device(), device(), device(), device(), device()};
  return std::mt19937_64(seq);
}

}  // namespace

std::string v4() {
  thread_local std::mt19937_64 rng = seeded();
  std::array<uint8_t, 16> b{};
  for (size_t i = 0; i < b.size(); i += 8) {
    uint64_t r = rng();
    for (size_t j = 0; j < 8; ++j) b[i + j] = static_cast<uint8_t>(r >> (j * 8));
  }
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  static constexpr char kHex[] = "0123456789abcdef";
  char text[36];
  size_t k = 0;
  for (size_t i = 0; i < b.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) text[k++] = '-';
    text[k++] = kHex[b[i] >> 4];
    text[k++] = kHex[b[i] & 0x0f];
  }
  return std::string(text, sizeof text);
}

namespace {
constexpr std::array<bool, 256> kHexDigit = [] {
  std::array<bool, 256> t{};
  for (int c = 0; c < 256; ++c) t[c] = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
  return t;
}();
bool all_hex(std::string_view s) {
  bool ok = true;
  for (char c : s) ok &= kHexDigit[static_cast<unsigned char>(c)];
  return ok;
}
// ASCII only, not the locale's tolower: a valid UUID is hex digits and dashes.
char lower(char c) { return static_cast<char>(c + (static_cast<unsigned char>(c - 'A') < 26 ? 'a' - 'A' : 0)); }
}  // namespace

bool is_valid(std::string_view text) {
  return text.size() == 36 && text[8] == '-' && text[13] == '-' && text[18] == '-' && text[23] == '-' &&
         all_hex(text.substr(0, 8)) && all_hex(text.substr(9, 4)) && all_hex(text.substr(14, 4)) &&
         all_hex(text.substr(19, 4)) && all_hex(text.substr(24, 12));
}

std::string normalize(std::string_view text) {
  std::string out(text);
  for (auto& c : out) c = lower(c);
  return out;
}

void normalize_to(std::string_view text, char (&out)[36]) {
  for (size_t i = 0; i < sizeof out; ++i) out[i] = i < text.size() ? lower(text[i]) : '\0';
}

}  // namespace bp::uuid
