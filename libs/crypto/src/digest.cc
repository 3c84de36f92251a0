// SHA-256, HMAC-SHA256, random bytes and constant-time comparison over OpenSSL.
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "bp/crypto.h"
#include "openssl_error.h"

namespace bp::crypto {

namespace {

constexpr std::size_t kSha256Size = 32;

// A default-constructed string_view has a null data(); OpenSSL wants a valid pointer even for 0 bytes.
const unsigned char* bytes_of(std::string_view s) {
  static const unsigned char kEmpty = 0;
  return s.empty() ? &kEmpty : reinterpret_cast<const unsigned char*>(s.data());
}

// The gateway hashes an API key on every request. EVP_Digest with EVP_sha256() fetches the
// algorithm and allocates a context on each call; a fetched digest and a context per thread,
// reinitialised for each hash, allocate nothing once they exist.
void sha256_into(std::string_view data, unsigned char* out) {
  static EVP_MD* const md = EVP_MD_fetch(nullptr, "SHA256", nullptr);  // kept for the process
  struct Context {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    ~Context() { EVP_MD_CTX_free(ctx); }
  };
  thread_local Context context;
  unsigned int len = 0;
  if (md == nullptr || context.ctx == nullptr || EVP_DigestInit_ex2(context.ctx, md, nullptr) != 1 ||
      EVP_DigestUpdate(context.ctx, bytes_of(data), data.size()) != 1 ||
      EVP_DigestFinal_ex(context.ctx, out, &len) != 1 || len != kSha256Size) {
    detail::throw_openssl_error("SHA-256");
  }
}

}  // namespace

std::string sha256_raw(std::string_view data) {
  std::string out(kSha256Size, '\0');
  sha256_into(data, reinterpret_cast<unsigned char*>(out.data()));
  return out;
}

std::string sha256_hex(std::string_view data) {
  char hex[2 * kSha256Size];
  sha256_hex_to(data, hex);
  return std::string(hex, sizeof hex);
}

void sha256_hex_to(std::string_view data, char (&out)[2 * kSha256Size]) {
  unsigned char digest[kSha256Size];
  sha256_into(data, digest);
  hex_encode_to(std::string_view(reinterpret_cast<const char*>(digest), kSha256Size), out);
}

std::string hmac_sha256(std::string_view key, std::string_view msg) {
  std::string out(kSha256Size, '\0');
  unsigned int len = 0;
  if (HMAC(EVP_sha256(), bytes_of(key), detail::checked_int_size(key.size()), bytes_of(msg), msg.size(),
           reinterpret_cast<unsigned char*>(out.data()), &len) == nullptr ||
      len != kSha256Size) {
    detail::throw_openssl_error("HMAC-SHA256");
  }
  return out;
}

std::string random_bytes(std::size_t n) {
  std::string out(n, '\0');
  if (n == 0) return out;
  if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), detail::checked_int_size(n)) != 1) {
    detail::throw_openssl_error("RAND_bytes");
  }
  return out;
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(bytes_of(a), bytes_of(b), a.size()) == 0;
}

}  // namespace bp::crypto
