// SHA-256, HMAC-SHA256, random bytes and constant-time comparison against published vectors.
#include <catch2/catch.hpp>

#include <set>

#include "bp/crypto.h"

using namespace bp::crypto;

TEST_CASE("sha256 matches the FIPS 180-2 vectors") {
  CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(sha256_hex(std::string_view{}) == sha256_hex(""));
  const std::string raw = sha256_raw("abc");
  CHECK(raw.size() == 32);
  CHECK(hex_encode(raw) == sha256_hex("abc"));
  char into[64];
  sha256_hex_to("abc", into);
  CHECK(std::string(into, sizeof into) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST_CASE("hmac_sha256 matches RFC 4231 test case 2") {
  const std::string mac = hmac_sha256("Jefe", "what do ya want for nothing?");
  CHECK(mac.size() == 32);
  CHECK(hex_encode(mac) == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  CHECK(hmac_sha256("Jefe", "what do ya want for nothing!") != mac);
  CHECK(hmac_sha256("Jeff", "what do ya want for nothing?") != mac);
}

TEST_CASE("hmac_sha256 accepts an empty key") {
  // RFC 2104 pads the key with zeros, so an empty key equals a one-zero-byte key.
  CHECK(hmac_sha256({}, "msg") == hmac_sha256(std::string(1, '\0'), "msg"));
  CHECK(hex_encode(hmac_sha256("", "")) == "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
}

TEST_CASE("random_bytes returns the requested number of distinct bytes") {
  CHECK(random_bytes(0).empty());
  CHECK(random_bytes(1).size() == 1);
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) seen.insert(random_bytes(16));
  CHECK(seen.size() == 100);
}

TEST_CASE("constant_time_equal compares contents and lengths") {
  CHECK(constant_time_equal("", ""));
  CHECK(constant_time_equal(std::string_view{}, ""));
  CHECK(constant_time_equal("secret", "secret"));
  CHECK_FALSE(constant_time_equal("secret", "secreT"));
  CHECK_FALSE(constant_time_equal("Secret", "secret"));
  CHECK_FALSE(constant_time_equal("secret", "secret!"));
  CHECK_FALSE(constant_time_equal("secret", ""));
  CHECK_FALSE(constant_time_equal("", "secret"));
  CHECK_FALSE(constant_time_equal(std::string("a\0b", 3), std::string("a\0c", 3)));
}
