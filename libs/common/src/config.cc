// Settings from flags and BP_* environment variables, declared once per service.
#include "bp/config.h"

#include <cctype>
#include <charconv>
#include <cstdlib>

namespace bp::config {
namespace {

// BP_PG_URL -> pg-url
std::string flag_name(const std::string& env) {
  std::string name = env.rfind("BP_", 0) == 0 ? env.substr(3) : env;
  for (auto& c : name) c = c == '_' ? '-' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return name;
}

}  // namespace

Result<Source> Source::load(const std::vector<Setting>& settings, int argc, const char* const* argv) {
  Source source;
  for (const auto& s : settings) {
    const char* env = std::getenv(s.env.c_str());
    source.values_[s.env] = env ? env : s.default_value;
  }
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.rfind("--", 0) != 0) {
      source.positional_.push_back(arg);
      continue;
    }
    auto eq = arg.find('=');
    std::string name = arg.substr(2, eq == std::string::npos ? std::string::npos : eq - 2);
    std::string value = eq == std::string::npos ? "true" : arg.substr(eq + 1);
    bool known = false;
    for (const auto& s : settings) {
      if (flag_name(s.env) == name) {
        source.values_[s.env] = value;
        known = true;
      }
    }
    if (!known) return Error::invalid("unknown flag --" + name + "\n" + usage(settings));
  }
  for (const auto& s : settings) {
    if (s.required && source.values_[s.env].empty()) {
      return Error::invalid(s.env + " (or --" + flag_name(s.env) + ") is required: " + s.help);
    }
  }
  return source;
}

std::string Source::get(const std::string& env) const {
  auto it = values_.find(env);
  return it == values_.end() ? std::string() : it->second;
}

Result<int64_t> Source::get_int(const std::string& env, int64_t min, int64_t max) const {
  std::string text = get(env);
  int64_t value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size()) {
    return Error::invalid(env + " must be an integer, got \"" + text + "\"");
  }
  if (value < min || value > max) {
    return Error::invalid(env + " must be between " + std::to_string(min) + " and " + std::to_string(max));
  }
  return value;
}

bool Source::get_bool(const std::string& env) const {
  std::string v = get(env);
  return v == "1" || v == "true" || v == "yes" || v == "on";
}

std::string Source::usage(const std::vector<Setting>& settings) {
  std::string out = "settings (flag / environment variable, default):\n";
  for (const auto& s : settings) {
    out += "  --" + flag_name(s.env) + " / " + s.env + " (" + (s.default_value.empty() ? "-" : s.default_value) +
           ")  " + s.help + "\n";
  }
  return out;
}

}  // namespace bp::config
