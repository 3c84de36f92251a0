// Reads master keys from key text, a mounted secret file or BP_MASTER_KEY* environment variables.
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <optional>
#include <utility>

#include "bp/crypto.h"
#include "bp/keyring.h"
#include "key_size.h"

namespace bp::crypto {

namespace {

constexpr std::size_t kHexKeyLength = 2 * detail::kMasterKeySize;
constexpr std::string_view kWhitespace = " \t\r\n";

std::string_view trim(std::string_view s) {
  const auto first = s.find_first_not_of(kWhitespace);
  if (first == std::string_view::npos) return {};
  return s.substr(first, s.find_last_not_of(kWhitespace) - first + 1);
}

// An empty variable counts as unset: deployment templates often render absent values as "".
std::optional<std::string> env(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') return std::nullopt;
  return std::string(value);
}

Result<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error::invalid("BP_MASTER_KEY_FILE: cannot open '" + path + "'");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) return Error::invalid("BP_MASTER_KEY_FILE: cannot read '" + path + "'");
  return text;
}

// Says which setting held the bad key, since the message itself must not quote the key.
Result<std::string> parse_setting(const std::string& setting, std::string_view text) {
  auto key = Keyring::parse_key_text(text);
  if (!key) return Error::invalid(setting + ": " + key.error().message);
  return key;
}

Result<std::string> load_primary() {
  if (auto path = env("BP_MASTER_KEY_FILE")) {
    auto text = read_file(*path);
    if (!text) return text.take_error();
    return parse_setting("BP_MASTER_KEY_FILE", *text);
  }
  if (auto text = env("BP_MASTER_KEY")) return parse_setting("BP_MASTER_KEY", *text);
  return Error::invalid(
      "BP_MASTER_KEY_FILE or BP_MASTER_KEY must be set to a master key (64 hex characters or base64 of 32 bytes, "
      "e.g. from `openssl rand -base64 32`)");
}

Result<std::vector<std::string>> load_previous() {
  std::vector<std::string> keys;
  const auto list = env("BP_MASTER_KEY_PREVIOUS");
  if (!list) return keys;
  std::string_view rest = *list;
  for (std::size_t entry = 1; !rest.empty(); ++entry) {
    const auto comma = rest.find(',');
    const std::string_view text = trim(rest.substr(0, comma));
    rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
    if (text.empty()) continue;  // tolerate "a,,b" and a trailing comma
    auto key = parse_setting("BP_MASTER_KEY_PREVIOUS entry " + std::to_string(entry), text);
    if (!key) return key.take_error();
    keys.push_back(std::move(key).value());
  }
  return keys;
}

}  // namespace

Result<std::string> Keyring::parse_key_text(std::string_view text) {
  const std::string_view key = trim(text);
  const auto refuse = [](const std::string& got) {
    return Error::invalid("master key must be 64 hex characters or base64 of exactly 32 bytes (got " + got + ")");
  };
  if (key.empty()) return refuse("an empty value");
  if (key.size() == kHexKeyLength) {
    if (auto raw = hex_decode(key)) return std::move(*raw);
  }
  if (auto raw = base64_decode(key)) {
    if (raw->size() == detail::kMasterKeySize) return std::move(*raw);
    return refuse("base64 of " + std::to_string(raw->size()) + " bytes");
  }
  return refuse(std::to_string(key.size()) + " characters that are neither");
}

Result<Keyring> Keyring::from_env() {
  auto primary = load_primary();
  if (!primary) return primary.take_error();
  auto previous = load_previous();
  if (!previous) return previous.take_error();
  return from_keys(std::move(primary).value(), std::move(previous).value());
}

}  // namespace bp::crypto
