// UUIDs in their canonical text form (random v4 generation and validation).
#pragma once

#include <string>
#include <string_view>

namespace bp::uuid {

// A random (version 4) UUID, lowercase canonical form.
std::string v4();
// True for the canonical 8-4-4-4-12 hex form, any case.
bool is_valid(std::string_view text);
// Lowercases a valid UUID (callers check is_valid first).
std::string normalize(std::string_view text);
// The same into a buffer of the caller's, allocating nothing (the gateway does it per request).
void normalize_to(std::string_view text, char (&out)[36]);

}  // namespace bp::uuid
