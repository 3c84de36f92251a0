// AES-256-GCM envelope encryption of secrets at rest, with key ids so the master key can rotate.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "bp/result.h"

namespace bp::crypto {

struct Sealed {
  std::string key_id;      // which master key sealed it; stored next to the ciphertext
  std::string ciphertext;  // 12-byte random nonce | ciphertext | 16-byte tag, raw bytes
};

class Keyring {
 public:
  // primary: 32 raw bytes; previous: older keys still needed to open existing ciphertexts.
  // A key's id is the first 16 hex chars of its SHA-256, so the same key always gets the same id.
  static Result<Keyring> from_keys(std::string primary, std::vector<std::string> previous = {});
  // Parses 64 hex chars or base64 of exactly 32 bytes, ignoring surrounding whitespace (a mounted
  // secret file usually ends in a newline). Error messages never echo the key.
  static Result<std::string> parse_key_text(std::string_view text);
  // BP_MASTER_KEY_FILE (path to the key text) wins over BP_MASTER_KEY (the key text itself);
  // BP_MASTER_KEY_PREVIOUS optionally lists comma-separated older key texts for rotation.
  static Result<Keyring> from_env();

  const std::string& primary_key_id() const { return primary_key_id_; }

  // Encrypts with the primary key. associated_data is authenticated but not stored: pass the owning
  // row's id so a ciphertext copied onto another row no longer opens.
  Sealed seal(std::string_view plaintext, std::string_view associated_data = {}) const;
  // Unknown key id or failed authentication -> Error (kInternal); tampered plaintext is never returned.
  Result<std::string> open(const Sealed& sealed, std::string_view associated_data = {}) const;

 private:
  Keyring() = default;

  std::string primary_key_id_;
  std::map<std::string, std::string, std::less<>> keys_by_id_;
};

}  // namespace bp::crypto
