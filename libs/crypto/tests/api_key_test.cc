// API keys: shape, stable length, uniqueness, checksum and the stored hash.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cctype>
#include <set>

#include "bp/api_key.h"
#include "bp/crypto.h"

using namespace bp::crypto;

namespace {

constexpr std::size_t kSecretLength = 55;  // "bp_v1_" + 43 body + 6 checksum

bool all_alnum(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isalnum(c) != 0; });
}

}  // namespace

TEST_CASE("generate_api_key produces bp_v1_ keys of one fixed length") {
  std::set<std::string> secrets;
  for (int i = 0; i < 1000; ++i) {
    const GeneratedApiKey key = generate_api_key();
    REQUIRE(key.secret.size() == kSecretLength);
    REQUIRE(key.secret.starts_with("bp_v1_"));
    REQUIRE(all_alnum(std::string_view(key.secret).substr(6)));
    REQUIRE(api_key_well_formed(key.secret));
    secrets.insert(key.secret);
  }
  CHECK(secrets.size() == 1000);
}

TEST_CASE("the checksum is zlib's CRC32 in base62, so scanners can check it with stock tools") {
  // Expected value computed with Python: base62(zlib.crc32(b"bp_v1_" + b"0" * 43)) == "4528Vr".
  const std::string head = "bp_v1_" + std::string(43, '0');
  CHECK(api_key_well_formed(head + "4528Vr"));
  CHECK_FALSE(api_key_well_formed(head + "4528Vs"));
}

TEST_CASE("api_key_well_formed rejects any single-character change") {
  const std::string secret = generate_api_key().secret;
  REQUIRE(api_key_well_formed(secret));
  for (std::size_t pos = 0; pos < secret.size(); ++pos) {
    for (char replacement : {'0', 'z', 'A', '_'}) {
      if (secret[pos] == replacement) continue;
      std::string changed = secret;
      changed[pos] = replacement;
      INFO("position " << pos << " -> " << replacement);
      CHECK_FALSE(api_key_well_formed(changed));
    }
  }
}

TEST_CASE("api_key_well_formed rejects wrong shapes") {
  const std::string secret = generate_api_key().secret;
  CHECK_FALSE(api_key_well_formed(""));
  CHECK_FALSE(api_key_well_formed("bp_v1_"));
  CHECK_FALSE(api_key_well_formed(secret.substr(0, secret.size() - 1)));
  CHECK_FALSE(api_key_well_formed(secret + "0"));
  // Edited copies rather than "x" + substr(): GCC 12 reports a false -Wrestrict on the latter.
  std::string other_version = secret;
  other_version.replace(0, 6, "bp_v2_");
  CHECK_FALSE(api_key_well_formed(other_version));
  std::string leading_space = secret;
  leading_space[0] = ' ';
  CHECK_FALSE(api_key_well_formed(leading_space));
  std::string with_dash = secret;
  with_dash[20] = '-';
  CHECK_FALSE(api_key_well_formed(with_dash));
}

TEST_CASE("the prefix and stored hash describe the secret") {
  const GeneratedApiKey key = generate_api_key();
  CHECK(key.prefix.size() == 12);
  CHECK(key.prefix == key.secret.substr(0, 12));
  CHECK(api_key_prefix(key.secret) == key.prefix);
  CHECK(api_key_prefix("bp_v1") == "bp_v1");
  CHECK(key.sha256_hex == sha256_hex(key.secret));
  CHECK(key.sha256_hex.size() == 64);
  CHECK(key.sha256_hex != sha256_hex(generate_api_key().secret));
}
