// The table of destination types: one schema per type, found by name.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "bp/destinations/schema.h"

namespace bp::destinations {

const Schema* find_schema(std::string_view type);
std::vector<std::string> known_types();

// Each type's schema, defined in its own file.
Schema postgres_schema();
Schema webhook_schema();
Schema file_schema();
Schema s3_schema();

}  // namespace bp::destinations
