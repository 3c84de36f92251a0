// Turns an OpenSSL failure that should never happen into an exception carrying OpenSSL's reason.
#pragma once

#include <openssl/err.h>

#include <climits>
#include <cstddef>
#include <stdexcept>
#include <string>

namespace bp::crypto::detail {

// Only for failures that mean a broken library or exhausted entropy, never for bad input.
[[noreturn]] inline void throw_openssl_error(const char* operation) {
  char reason[256] = "unknown error";
  if (unsigned long code = ERR_get_error(); code != 0) ERR_error_string_n(code, reason, sizeof(reason));
  ERR_clear_error();
  throw std::runtime_error(std::string(operation) + " failed: " + reason);
}

// OpenSSL's C API counts bytes in int; larger buffers would silently truncate.
inline int checked_int_size(std::size_t n) {
  if (n > static_cast<std::size_t>(INT_MAX)) throw std::length_error("buffer too large for OpenSSL");
  return static_cast<int>(n);
}

}  // namespace bp::crypto::detail
