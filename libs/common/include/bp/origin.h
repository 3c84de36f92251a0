// Browser origins: the one normalisation used to store allowed origins and to match requests.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace bp::origin {

// "HTTPS://App.Example.com:443" -> "https://app.example.com". nullopt for anything that is not an
// http(s) scheme://host[:port] origin (paths, userinfo, "null", file:, extension schemes...).
std::optional<std::string> normalize(std::string_view text);

}  // namespace bp::origin
