// AES-256-GCM sealing and opening of secrets under a primary master key plus rotated-out keys.
#include "bp/keyring.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <memory>
#include <optional>
#include <utility>

#include "bp/crypto.h"
#include "key_size.h"
#include "openssl_error.h"

namespace bp::crypto {

namespace {

constexpr std::size_t kNonceSize = 12;  // GCM's native IV size: no extra GHASH pass over the IV
constexpr std::size_t kTagSize = 16;
constexpr std::size_t kKeyIdLength = 16;

using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)>;

CipherCtx new_cipher_ctx() {
  CipherCtx ctx(EVP_CIPHER_CTX_new(), &EVP_CIPHER_CTX_free);
  if (!ctx) detail::throw_openssl_error("EVP_CIPHER_CTX_new");
  return ctx;
}

// For calls that fail only when OpenSSL itself is broken; an authentication failure is not one.
void check(int rc, const char* operation) {
  if (rc != 1) detail::throw_openssl_error(operation);
}

const unsigned char* in_bytes(std::string_view s) { return reinterpret_cast<const unsigned char*>(s.data()); }
unsigned char* out_bytes(std::string& s, std::size_t offset) {
  return reinterpret_cast<unsigned char*>(s.data()) + offset;
}

// Feeds associated data and plaintext/ciphertext through an initialised encrypt or decrypt context.
void gcm_update(EVP_CIPHER_CTX* ctx, bool encrypt, std::string_view associated_data, std::string_view input,
                unsigned char* output) {
  auto update = encrypt ? &EVP_EncryptUpdate : &EVP_DecryptUpdate;
  int len = 0;
  if (!associated_data.empty()) {
    check(update(ctx, nullptr, &len, in_bytes(associated_data), detail::checked_int_size(associated_data.size())),
          "AES-GCM associated data");
  }
  if (!input.empty()) {
    check(update(ctx, output, &len, in_bytes(input), detail::checked_int_size(input.size())), "AES-GCM update");
  }
}

std::string key_id_of(std::string_view key) { return sha256_hex(key).substr(0, kKeyIdLength); }

std::optional<Error> wrong_size(std::string_view which, const std::string& key) {
  if (key.size() == detail::kMasterKeySize) return std::nullopt;
  return Error::invalid(std::string(which) + " must be 32 bytes, got " + std::to_string(key.size()));
}

}  // namespace

Result<Keyring> Keyring::from_keys(std::string primary, std::vector<std::string> previous) {
  if (auto error = wrong_size("primary master key", primary)) return std::move(*error);
  Keyring ring;
  ring.primary_key_id_ = key_id_of(primary);
  ring.keys_by_id_.emplace(ring.primary_key_id_, std::move(primary));
  for (std::size_t i = 0; i < previous.size(); ++i) {
    if (auto error = wrong_size("previous master key #" + std::to_string(i + 1), previous[i])) return std::move(*error);
    std::string id = key_id_of(previous[i]);
    ring.keys_by_id_.emplace(std::move(id), std::move(previous[i]));
  }
  return ring;
}

Sealed Keyring::seal(std::string_view plaintext, std::string_view associated_data) const {
  const std::string& key = keys_by_id_.find(primary_key_id_)->second;
  // A fresh random nonce per seal: with 96-bit nonces, 2^32 seals under one key stay far from collisions.
  std::string out = random_bytes(kNonceSize);
  out.resize(kNonceSize + plaintext.size() + kTagSize);
  const std::size_t tag_offset = kNonceSize + plaintext.size();

  CipherCtx ctx = new_cipher_ctx();
  check(EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, in_bytes(key), out_bytes(out, 0)),
        "AES-GCM encrypt init");
  gcm_update(ctx.get(), true, associated_data, plaintext, out_bytes(out, kNonceSize));
  int len = 0;
  check(EVP_EncryptFinal_ex(ctx.get(), out_bytes(out, tag_offset), &len), "AES-GCM encrypt final");
  check(EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kTagSize, out_bytes(out, tag_offset)), "AES-GCM get tag");
  return Sealed{primary_key_id_, std::move(out)};
}

Result<std::string> Keyring::open(const Sealed& sealed, std::string_view associated_data) const {
  auto it = keys_by_id_.find(sealed.key_id);
  if (it == keys_by_id_.end()) {
    return Error::internal("secret was sealed with unknown master key id '" + sealed.key_id +
                           "' (is a rotated-out key missing from BP_MASTER_KEY_PREVIOUS?)");
  }
  const std::string_view whole = sealed.ciphertext;
  if (whole.size() < kNonceSize + kTagSize) {
    return Error::internal("sealed secret is " + std::to_string(whole.size()) + " bytes, shorter than nonce and tag");
  }
  const std::string_view nonce = whole.substr(0, kNonceSize);
  const std::string_view body = whole.substr(kNonceSize, whole.size() - kNonceSize - kTagSize);
  std::string tag(whole.substr(whole.size() - kTagSize));  // EVP_CTRL_GCM_SET_TAG wants a writable buffer

  std::string plaintext(body.size(), '\0');
  CipherCtx ctx = new_cipher_ctx();
  check(EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, in_bytes(it->second), in_bytes(nonce)),
        "AES-GCM decrypt init");
  gcm_update(ctx.get(), false, associated_data, body, out_bytes(plaintext, 0));
  check(EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kTagSize, tag.data()), "AES-GCM set tag");
  int len = 0;
  if (EVP_DecryptFinal_ex(ctx.get(), out_bytes(plaintext, body.size()), &len) != 1) {
    // The unauthenticated plaintext must not outlive this call.
    OPENSSL_cleanse(plaintext.data(), plaintext.size());
    return Error::internal("sealed secret failed authentication under key id '" + sealed.key_id +
                           "': ciphertext altered or associated data differs");
  }
  return plaintext;
}

}  // namespace bp::crypto
