// The destination config validators: first byte picks the type, the rest is the config JSON.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "bp/destinations/registry.h"
#include "bp/json.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  auto types = bp::destinations::known_types();
  const auto* schema = bp::destinations::find_schema(types[data[0] % types.size()]);
  if (!schema) return 0;
  auto config = bp::json::parse(std::string_view(reinterpret_cast<const char*>(data + 1), size - 1), 32);
  if (!config) return 0;
  auto valid = bp::destinations::validate(*schema, *config);
  // What validation accepts, it accepts again (normalised output is stable).
  if (valid && !bp::destinations::validate(*schema, *valid)) __builtin_trap();
  return 0;
}
