// Hex, base64 and base62: known values, round trips and rejection of malformed input.
#include <catch2/catch.hpp>

#include "bp/crypto.h"

using namespace bp::crypto;

namespace {

// Every byte value once, so round trips cover the whole alphabet and the sign bit.
std::string all_bytes() {
  std::string s;
  for (int i = 0; i < 256; ++i) s.push_back(static_cast<char>(i));
  return s;
}

}  // namespace

TEST_CASE("hex_encode is lowercase and hex_decode reverses it") {
  CHECK(hex_encode("") == "");
  CHECK(hex_encode(std::string("\x00\xff\x10\xab", 4)) == "00ff10ab");
  CHECK(hex_decode("00FF10aB") == std::string("\x00\xff\x10\xab", 4));
  CHECK(hex_decode("") == std::string());
  const std::string bytes = all_bytes();
  CHECK(hex_decode(hex_encode(bytes)) == bytes);
  CHECK(hex_decode(hex_encode(random_bytes(33))).has_value());
}

TEST_CASE("hex_decode rejects odd lengths and non-hex characters") {
  CHECK_FALSE(hex_decode("abc").has_value());
  CHECK_FALSE(hex_decode("zz").has_value());
  CHECK_FALSE(hex_decode("0g").has_value());
  CHECK_FALSE(hex_decode("g0").has_value());
  CHECK_FALSE(hex_decode("00 1").has_value());
  CHECK_FALSE(hex_decode("0x00").has_value());
}

TEST_CASE("base64_encode matches the RFC 4648 vectors") {
  CHECK(base64_encode("") == "");
  CHECK(base64_encode("f") == "Zg==");
  CHECK(base64_encode("fo") == "Zm8=");
  CHECK(base64_encode("foo") == "Zm9v");
  CHECK(base64_encode("foob") == "Zm9vYg==");
  CHECK(base64_encode("fooba") == "Zm9vYmE=");
  CHECK(base64_encode("foobar") == "Zm9vYmFy");
  CHECK(base64_encode(std::string("\xfb\xff\xbf", 3)) == "+/+/");
}

TEST_CASE("base64_decode reverses base64_encode") {
  for (const char* text : {"", "f", "fo", "foo", "foob", "fooba", "foobar"}) {
    CHECK(base64_decode(base64_encode(text)) == std::string(text));
  }
  const std::string bytes = all_bytes();
  for (std::size_t len = 0; len <= bytes.size(); len += 7) {
    const std::string prefix = bytes.substr(0, len);
    CHECK(base64_decode(base64_encode(prefix)) == prefix);
  }
}

TEST_CASE("base64_decode rejects invalid input") {
  CHECK_FALSE(base64_decode("Zg=").has_value());       // not a multiple of 4
  CHECK_FALSE(base64_decode("Zm9vY").has_value());     // not a multiple of 4
  CHECK_FALSE(base64_decode("Z===").has_value());      // too much padding
  CHECK_FALSE(base64_decode("====").has_value());      // only padding
  CHECK_FALSE(base64_decode("Zm=v").has_value());      // padding in the middle
  CHECK_FALSE(base64_decode("Zg==Zm9v").has_value());  // padding before more data
  CHECK_FALSE(base64_decode("Zm9v!A==").has_value());  // character outside the alphabet
  CHECK_FALSE(base64_decode("Zm9-").has_value());      // URL-safe alphabet is not accepted
  CHECK_FALSE(base64_decode("Zm9v\n").has_value());    // whitespace is the caller's to trim
  CHECK_FALSE(base64_decode("Zh==").has_value());      // unused bits set: not what any encoder emits
  CHECK_FALSE(base64_decode("Zm9=").has_value());      // unused bits set
  CHECK(base64_decode("Zg==").has_value());            // the canonical forms of the two above
  CHECK(base64_decode("Zm8=").has_value());
}

TEST_CASE("base62_encode writes the bytes as one base-62 number") {
  CHECK(base62_encode("") == "");
  CHECK(base62_encode("\x01") == "1");
  CHECK(base62_encode("\x0a") == "A");
  CHECK(base62_encode("\x24") == "a");
  CHECK(base62_encode("\x3d") == "z");
  CHECK(base62_encode("\x3e") == "10");
  CHECK(base62_encode("\xff") == "47");
  CHECK(base62_encode(std::string("\x01\x00", 2)) == "48");
  CHECK(base62_encode("\xff\xff\xff\xff") == "4gfFC3");  // 2^32 - 1
}

TEST_CASE("base62_encode keeps leading zero bytes as '0'") {
  CHECK(base62_encode(std::string(1, '\0')) == "0");
  CHECK(base62_encode(std::string(3, '\0')) == "000");
  CHECK(base62_encode(std::string("\x00\x00\x01", 3)) == "001");
  CHECK(base62_encode(std::string("\x00\x3e", 2)) == "010");
  CHECK(base62_encode(std::string("\x00\x01\x00", 3)) == "048");
}
