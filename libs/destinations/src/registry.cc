// The one table that maps a destination type to its config schema.
#include "bp/destinations/registry.h"

namespace bp::destinations {
namespace {

const std::vector<Schema>& all() {
  static const std::vector<Schema> kSchemas = {postgres_schema(), webhook_schema(), file_schema(), s3_schema()};
  return kSchemas;
}

}  // namespace

const Schema* find_schema(std::string_view type) {
  for (const auto& s : all()) {
    if (s.type == type) return &s;
  }
  return nullptr;
}

std::vector<std::string> known_types() {
  std::vector<std::string> types;
  for (const auto& s : all()) types.push_back(s.type);
  return types;
}

}  // namespace bp::destinations
