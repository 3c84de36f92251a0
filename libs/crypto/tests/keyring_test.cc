// Keyring: sealing round trips, tamper detection, key rotation and loading the master key.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>

#include "bp/crypto.h"
#include "bp/keyring.h"

using namespace bp::crypto;
using bp::ErrorCode;

namespace {

Keyring make_keyring(const std::string& primary, std::vector<std::string> previous = {}) {
  auto ring = Keyring::from_keys(primary, std::move(previous));
  REQUIRE(ring.ok());
  return std::move(ring).value();
}

// Opening must fail with kInternal and hand back nothing.
void require_refused(const Keyring& ring, const Sealed& sealed, std::string_view associated_data = {}) {
  auto opened = ring.open(sealed, associated_data);
  REQUIRE_FALSE(opened.ok());
  CHECK(opened.error().code == ErrorCode::kInternal);
  CHECK_FALSE(opened.error().message.empty());
}

Sealed flip_bit(Sealed sealed, std::size_t index) {
  sealed.ciphertext[index] = static_cast<char>(sealed.ciphertext[index] ^ 0x01);
  return sealed;
}

// Sets or clears the BP_MASTER_KEY* variables for one test and restores what was there before.
class ScopedEnv {
 public:
  ScopedEnv() {
    for (const char* name : kNames) {
      const char* value = std::getenv(name);
      saved_.emplace_back(name, value ? std::optional<std::string>(value) : std::nullopt);
      unsetenv(name);
    }
  }
  ~ScopedEnv() {
    for (const auto& [name, value] : saved_) {
      if (value) {
        setenv(name, value->c_str(), 1);
      } else {
        unsetenv(name);
      }
    }
  }
  void set(const char* name, const std::string& value) { setenv(name, value.c_str(), 1); }

 private:
  static constexpr const char* kNames[] = {"BP_MASTER_KEY_FILE", "BP_MASTER_KEY", "BP_MASTER_KEY_PREVIOUS"};
  std::vector<std::pair<const char*, std::optional<std::string>>> saved_;
};

// A file removed when the test ends, whether it passes or not.
class TempFile {
 public:
  explicit TempFile(const std::string& contents)
      : path_(std::filesystem::temp_directory_path() / ("bp_crypto_key_" + hex_encode(random_bytes(8)))) {
    std::ofstream(path_, std::ios::binary) << contents;
  }
  ~TempFile() { std::filesystem::remove(path_); }
  std::string path() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

}  // namespace

TEST_CASE("Keyring seals and opens") {
  const Keyring ring = make_keyring(random_bytes(32));
  const Sealed sealed = ring.seal("postgres-password", "destination-1");
  CHECK(sealed.key_id == ring.primary_key_id());
  CHECK(sealed.ciphertext.size() == 12 + 17 + 16);
  CHECK(sealed.ciphertext.find("postgres-password") == std::string::npos);
  auto opened = ring.open(sealed, "destination-1");
  REQUIRE(opened.ok());
  CHECK(*opened == "postgres-password");

  auto empty = ring.open(ring.seal(""));
  REQUIRE(empty.ok());
  CHECK(empty->empty());
  const std::string binary("\x00\xff\x00secret", 9);
  CHECK(ring.open(ring.seal(binary)).value() == binary);
}

TEST_CASE("Keyring key ids are derived from the key") {
  const std::string key = random_bytes(32);
  CHECK(make_keyring(key).primary_key_id() == make_keyring(key).primary_key_id());
  CHECK(make_keyring(key).primary_key_id() == sha256_hex(key).substr(0, 16));
  CHECK(make_keyring(key).primary_key_id() != make_keyring(random_bytes(32)).primary_key_id());
}

TEST_CASE("Keyring::from_keys rejects keys that are not 32 bytes") {
  auto short_primary = Keyring::from_keys(random_bytes(31));
  REQUIRE_FALSE(short_primary.ok());
  CHECK(short_primary.error().code == ErrorCode::kInvalidArgument);
  auto long_previous = Keyring::from_keys(random_bytes(32), {random_bytes(33)});
  REQUIRE_FALSE(long_previous.ok());
  CHECK(long_previous.error().code == ErrorCode::kInvalidArgument);
}

TEST_CASE("Keyring uses a fresh nonce for every seal") {
  const Keyring ring = make_keyring(random_bytes(32));
  const Sealed a = ring.seal("same plaintext");
  const Sealed b = ring.seal("same plaintext");
  CHECK(a.ciphertext != b.ciphertext);
  CHECK(a.ciphertext.substr(0, 12) != b.ciphertext.substr(0, 12));
  CHECK(ring.open(a).value() == ring.open(b).value());
}

TEST_CASE("Keyring refuses tampered ciphertexts") {
  const Keyring ring = make_keyring(random_bytes(32));
  const Sealed sealed = ring.seal("webhook-signing-secret", "destination-1");
  REQUIRE(ring.open(sealed, "destination-1").ok());
  const std::size_t size = sealed.ciphertext.size();

  SECTION("a bit flipped in the nonce") { require_refused(ring, flip_bit(sealed, 0), "destination-1"); }
  SECTION("a bit flipped in the ciphertext") { require_refused(ring, flip_bit(sealed, 12), "destination-1"); }
  SECTION("a bit flipped in the last ciphertext byte") {
    require_refused(ring, flip_bit(sealed, size - 17), "destination-1");
  }
  SECTION("a bit flipped in the tag") { require_refused(ring, flip_bit(sealed, size - 1), "destination-1"); }
  SECTION("different associated data") { require_refused(ring, sealed, "destination-2"); }
  SECTION("missing associated data") { require_refused(ring, sealed); }
  SECTION("truncated by one byte") {
    Sealed truncated = sealed;
    truncated.ciphertext.pop_back();
    require_refused(ring, truncated, "destination-1");
  }
  SECTION("truncated below nonce and tag") {
    Sealed truncated = sealed;
    truncated.ciphertext.resize(27);
    require_refused(ring, truncated, "destination-1");
    truncated.ciphertext.clear();
    require_refused(ring, truncated, "destination-1");
  }
}

TEST_CASE("Keyring refuses unknown key ids") {
  const Keyring ring = make_keyring(random_bytes(32));
  const Keyring other = make_keyring(random_bytes(32));
  require_refused(ring, other.seal("secret"));
  Sealed relabelled = ring.seal("secret");
  relabelled.key_id = other.primary_key_id();
  require_refused(ring, relabelled);
  auto opened = ring.open(relabelled);
  CHECK_THAT(opened.error().message, Catch::Contains("unknown master key id"));
}

TEST_CASE("Keyring rotation keeps old ciphertexts readable") {
  const std::string old_key = random_bytes(32);
  const std::string new_key = random_bytes(32);
  const Keyring before = make_keyring(old_key);
  const Sealed old_sealed = before.seal("old secret", "row-7");

  const Keyring after = make_keyring(new_key, {old_key});
  CHECK(after.primary_key_id() != before.primary_key_id());
  auto opened = after.open(old_sealed, "row-7");
  REQUIRE(opened.ok());
  CHECK(*opened == "old secret");

  const Sealed new_sealed = after.seal("new secret");
  CHECK(new_sealed.key_id == after.primary_key_id());
  CHECK(after.open(new_sealed).value() == "new secret");
  require_refused(before, new_sealed);  // the old ring never learned the new key
}

TEST_CASE("Keyring::parse_key_text accepts hex and base64 keys") {
  const std::string key = random_bytes(32);
  CHECK(Keyring::parse_key_text(hex_encode(key)).value() == key);
  CHECK(Keyring::parse_key_text(hex_encode(key) + "\n").value() == key);
  CHECK(Keyring::parse_key_text(base64_encode(key)).value() == key);
  CHECK(Keyring::parse_key_text("  " + base64_encode(key) + "\r\n").value() == key);
}

TEST_CASE("Keyring::parse_key_text rejects keys of the wrong size or form") {
  for (const std::string& text : {hex_encode(random_bytes(31)), base64_encode(random_bytes(31)),
                                  base64_encode(random_bytes(33)), hex_encode(random_bytes(32)).substr(1) + "g",
                                  std::string("not a key at all"), std::string(), std::string("\n")}) {
    auto parsed = Keyring::parse_key_text(text);
    INFO("key text: " << text);
    REQUIRE_FALSE(parsed.ok());
    CHECK(parsed.error().code == ErrorCode::kInvalidArgument);
    CHECK_THAT(parsed.error().message, Catch::Contains("32 bytes"));
  }
}

TEST_CASE("Keyring::from_env reads BP_MASTER_KEY_FILE before BP_MASTER_KEY") {
  ScopedEnv env;
  const std::string file_key = random_bytes(32);
  const std::string env_key = random_bytes(32);
  const TempFile file(base64_encode(file_key) + "\n");
  env.set("BP_MASTER_KEY_FILE", file.path());
  env.set("BP_MASTER_KEY", hex_encode(env_key));
  auto ring = Keyring::from_env();
  REQUIRE(ring.ok());
  CHECK(ring->primary_key_id() == make_keyring(file_key).primary_key_id());
}

TEST_CASE("Keyring::from_env reads BP_MASTER_KEY and BP_MASTER_KEY_PREVIOUS") {
  ScopedEnv env;
  const std::string key = random_bytes(32);
  const std::string old_a = random_bytes(32);
  const std::string old_b = random_bytes(32);
  env.set("BP_MASTER_KEY", hex_encode(key) + "\n");
  env.set("BP_MASTER_KEY_PREVIOUS", hex_encode(old_a) + ", " + base64_encode(old_b) + ",");
  auto ring = Keyring::from_env();
  REQUIRE(ring.ok());
  CHECK(ring->primary_key_id() == make_keyring(key).primary_key_id());
  CHECK(ring->open(make_keyring(old_a).seal("a")).value() == "a");
  CHECK(ring->open(make_keyring(old_b).seal("b")).value() == "b");
}

TEST_CASE("Keyring::from_env reports missing or bad settings") {
  ScopedEnv env;
  auto unset = Keyring::from_env();
  REQUIRE_FALSE(unset.ok());
  CHECK(unset.error().code == ErrorCode::kInvalidArgument);
  CHECK_THAT(unset.error().message, Catch::StartsWith("BP_MASTER_KEY_FILE or BP_MASTER_KEY must be set"));

  env.set("BP_MASTER_KEY_FILE", "/nonexistent/bp-master-key");
  auto missing_file = Keyring::from_env();
  REQUIRE_FALSE(missing_file.ok());
  CHECK_THAT(missing_file.error().message, Catch::Contains("BP_MASTER_KEY_FILE"));

  unsetenv("BP_MASTER_KEY_FILE");
  const std::string key_text = hex_encode(random_bytes(31));
  env.set("BP_MASTER_KEY", key_text);
  auto short_key = Keyring::from_env();
  REQUIRE_FALSE(short_key.ok());
  CHECK_THAT(short_key.error().message, Catch::StartsWith("BP_MASTER_KEY:"));
  CHECK_THAT(short_key.error().message, !Catch::Contains(key_text));  // never echo a key into logs

  env.set("BP_MASTER_KEY", hex_encode(random_bytes(32)));
  env.set("BP_MASTER_KEY_PREVIOUS", hex_encode(random_bytes(32)) + ",garbage");
  auto bad_previous = Keyring::from_env();
  REQUIRE_FALSE(bad_previous.ok());
  CHECK_THAT(bad_previous.error().message, Catch::StartsWith("BP_MASTER_KEY_PREVIOUS entry 2:"));
}
