// The one thin layer over RapidJSON: parsing with bounded depth, and a small writer.
#pragma once

#ifndef RAPIDJSON_HAS_STDSTRING
#define RAPIDJSON_HAS_STDSTRING 1
#endif
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bp/result.h"

namespace bp::json {

inline constexpr int kDefaultMaxDepth = 64;

// Parses iteratively (no recursion on the C++ stack) and refuses nesting deeper than max_depth.
Result<rapidjson::Document> parse(std::string_view text, int max_depth = kDefaultMaxDepth);

// What scan() finds out about a document without building it.
struct Shape {
  enum Kind { kObject, kArray, kOther };
  Kind root = kOther;
  size_t elements = 0;     // of a root array
  bool all_objects = true; // every element of a root array is an object
  std::string_view text;   // the document without surrounding whitespace (a view into the input)
};

// Validates like parse() (same errors, same depth bound, UTF-8 checked) without allocating a DOM.
Result<Shape> scan(std::string_view text, int max_depth = kDefaultMaxDepth);

// The elements of a root array, each as compact text (what to_string() of each element of
// parse(text) gives), validated like parse() but without building a DOM: one SAX pass that
// writes as it reads. Fails like parse() on invalid text, and when the root is not an array.
Result<std::vector<std::string>> split_array(std::string_view text, int max_depth = kDefaultMaxDepth);

// Serializes any value compactly.
std::string to_string(const rapidjson::Value& value);

// Quotes and escapes a string as a JSON string literal (as RapidJSON's Writer does: `"`, `\`
// and control characters; other bytes as they are); quote_to appends it to `out`.
std::string quote(std::string_view s);
void quote_to(std::string& out, std::string_view s);

// Member lookups that tolerate absence and wrong types.
const rapidjson::Value* find(const rapidjson::Value& object, std::string_view name);
std::optional<std::string> get_string(const rapidjson::Value& object, std::string_view name);
std::optional<int64_t> get_int(const rapidjson::Value& object, std::string_view name);
std::optional<bool> get_bool(const rapidjson::Value& object, std::string_view name);

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

}  // namespace bp::json
