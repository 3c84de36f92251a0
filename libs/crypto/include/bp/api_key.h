// Workspace API keys: generation, offline shape/checksum validation and the display prefix.
#pragma once

#include <string>
#include <string_view>

namespace bp::crypto {

struct GeneratedApiKey {
  std::string secret;      // shown to the user once, never stored
  std::string prefix;      // lets users recognise a key in listings
  std::string sha256_hex;  // the only thing stored
};

// secret = "bp_v1_" + 43 base62 chars (32 random bytes) + 6 base62 chars of CRC32 over what precedes
// them. As with GitHub's token format, the checksum lets secret scanners validate a key offline and
// lets the gateway refuse typos without a database lookup.
GeneratedApiKey generate_api_key();

// True when text has the bp_v1_ shape, the right length and a matching checksum.
bool api_key_well_formed(std::string_view text);

// The first 12 characters of a secret (all of it if shorter).
std::string api_key_prefix(std::string_view secret);

}  // namespace bp::crypto
