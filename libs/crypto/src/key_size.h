// The AES-256 key size shared by the keyring and the master-key parser.
#pragma once

#include <cstddef>

namespace bp::crypto::detail {

inline constexpr std::size_t kMasterKeySize = 32;

}  // namespace bp::crypto::detail
