// Random v4 UUIDs and canonical-form validation.
#include "bp/uuid.h"

#include <array>
#include <cctype>
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
  std::string out;
  out.reserve(36);
  for (size_t i = 0; i < b.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out += '-';
    out += kHex[b[i] >> 4];
    out += kHex[b[i] & 0x0f];
  }
  return out;
}

bool is_valid(std::string_view text) {
  if (text.size() != 36) return false;
  for (size_t i = 0; i < text.size(); ++i) {
    bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? text[i] != '-' : !std::isxdigit(static_cast<unsigned char>(text[i]))) return false;
  }
  return true;
}

std::string normalize(std::string_view text) {
  std::string out(text);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace bp::uuid
