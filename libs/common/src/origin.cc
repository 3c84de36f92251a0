// Origin normalisation: lowercase scheme and host, default ports dropped, nothing else allowed.
#include "bp/origin.h"

#include <cctype>
#include <charconv>

namespace bp::origin {

std::optional<std::string> normalize(std::string_view text) {
  std::string lower(text);
  for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::string_view s = lower;
  std::string scheme;
  if (s.rfind("https://", 0) == 0) {
    scheme = "https";
    s.remove_prefix(8);
  } else if (s.rfind("http://", 0) == 0) {
    scheme = "http";
    s.remove_prefix(7);
  } else {
    return std::nullopt;
  }
  if (!s.empty() && s.back() == '/') s.remove_suffix(1);  // "https://a.com/" is the same origin
  if (s.empty() || s.size() > 261) return std::nullopt;

  std::string_view host = s;
  std::string_view port;
  if (s.front() == '[') {  // IPv6 literal
    auto close = s.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    host = s.substr(0, close + 1);
    std::string_view rest = s.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return std::nullopt;
      port = rest.substr(1);
    }
    for (char c : host.substr(1, host.size() - 2)) {
      if (!(std::isxdigit(static_cast<unsigned char>(c)) || c == ':' || c == '.')) return std::nullopt;
    }
    if (host.size() < 4) return std::nullopt;
  } else {
    auto colon = s.find(':');
    if (colon != std::string_view::npos) {
      host = s.substr(0, colon);
      port = s.substr(colon + 1);
    }
    if (host.empty() || host.front() == '.' || host.front() == '-' || host.back() == '-') return std::nullopt;
    for (char c : host) {
      if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.')) return std::nullopt;
    }
  }
  std::string out = scheme + "://" + std::string(host);
  if (port.data() != nullptr && port.empty()) return std::nullopt;  // "host:" with no port
  if (!port.empty()) {
    int value = 0;
    auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc() || ptr != port.data() + port.size() || value < 1 || value > 65535) return std::nullopt;
    bool default_port = (scheme == "http" && value == 80) || (scheme == "https" && value == 443);
    if (!default_port) out += ":" + std::to_string(value);
  }
  return out;
}

}  // namespace bp::origin
