// The file destination: NDJSON files under the workers' file-sink root.
#include "bp/destinations/registry.h"

namespace bp::destinations {
namespace {

// True when the relative path stays inside the root: no absolute path, no ".." that climbs out.
bool stays_under_root(std::string_view path) {
  if (path.empty() || path.front() == '/' || path.find('\0') != std::string_view::npos) return false;
  int depth = 0;
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    std::string_view part = path.substr(start, end - start);
    if (part == "..") {
      if (--depth < 0) return false;
    } else if (!part.empty() && part != ".") {
      ++depth;
    }
    start = end + 1;
  }
  return depth > 0;
}

}  // namespace

Schema file_schema() {
  Schema s;
  s.type = "file";
  s.fields = {
      {"path", FieldKind::kString, true, "", {}, 0, 1024},
      {"format", FieldKind::kString, false, "\"ndjson\"", {"ndjson"}},
      {"compression", FieldKind::kString, false, "\"none\"", {"none", "gzip"}},
      {"rotate_bytes", FieldKind::kInteger, false, "67108864", {}, 1024, int64_t{1} << 40},
      {"rotate_seconds", FieldKind::kInteger, false, "3600", {}, 1, 604800},
  };
  s.check = [](const rapidjson::Value& c, FieldErrors& errors) {
    if (!stays_under_root(json::get_string(c, "path").value_or(""))) {
      errors["config.path"] = "must be a relative directory inside the file-sink root (no leading /, no ..)";
    }
  };
  return s;
}

}  // namespace bp::destinations
