// Configuration: each service declares its settings once (name, default, help) and reads them from
// command-line flags (--name=value) or BP_* environment variables, flags winning.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "bp/result.h"

namespace bp::config {

struct Setting {
  std::string env;            // BP_PG_URL
  std::string default_value;  // empty = no default
  std::string help;
  bool required = false;
};

// Collects raw values for the declared settings; unknown flags are an error, so typos are loud.
class Source {
 public:
  // argv: flags as --pg-url=value (the env name without BP_, lowercase, '_' -> '-').
  static Result<Source> load(const std::vector<Setting>& settings, int argc, const char* const* argv);

  std::string get(const std::string& env) const;
  Result<int64_t> get_int(const std::string& env, int64_t min, int64_t max) const;
  bool get_bool(const std::string& env) const;
  // Positional arguments (anything not starting with --).
  const std::vector<std::string>& positional() const { return positional_; }

  static std::string usage(const std::vector<Setting>& settings);

 private:
  std::map<std::string, std::string> values_;
  std::vector<std::string> positional_;
};

}  // namespace bp::config
