// The route table: path patterns, each with the methods it serves.
#include "bp/gateway/router.h"

#include <array>
#include <vector>

namespace bp::gateway {
namespace {

using boost::beast::http::verb;

struct Entry {
  const char* pattern;  // segments; ":x" matches any one segment
  verb method;
  RouteId id;
};

// A path's segments, without allocating: no route has more than kMaxSegments, so a longer path
// matches none and keeps only `overflow`.
struct Segments {
  static constexpr size_t kMaxSegments = 8;
  std::array<std::string_view, kMaxSegments> items;
  size_t count = 0;
  bool overflow = false;
  size_t size() const { return count; }
  std::string_view operator[](size_t i) const { return items[i]; }
};

Segments split_path(std::string_view path);

const std::vector<Entry>& table() {
  static const std::vector<Entry> kTable = {
      {"/v1/health", verb::get, RouteId::kHealth},
      {"/healthz", verb::get, RouteId::kHealthz},
      {"/readyz", verb::get, RouteId::kReadyz},
      {"/metrics", verb::get, RouteId::kMetrics},
      {"/v1/ingest/:p", verb::post, RouteId::kIngestPost},
      {"/v1/ingest/:p", verb::get, RouteId::kIngestGet},
      {"/v1/ingest/:p", verb::options, RouteId::kIngestOptions},
      {"/v1/pipes", verb::get, RouteId::kListPipes},
      {"/v1/pipes", verb::post, RouteId::kCreatePipe},
      {"/v1/pipes/:p", verb::get, RouteId::kGetPipe},
      {"/v1/pipes/:p", verb::patch, RouteId::kUpdatePipe},
      {"/v1/pipes/:p", verb::delete_, RouteId::kDeletePipe},
      {"/v1/pipes/:p/destinations", verb::post, RouteId::kCreateDestination},
      {"/v1/pipes/:p/destinations/:c", verb::patch, RouteId::kUpdateDestination},
      {"/v1/pipes/:p/destinations/:c", verb::delete_, RouteId::kDeleteDestination},
      {"/v1/pipes/:p/destinations/:c/status", verb::patch, RouteId::kSetDestinationStatus},
      {"/v1/pipes/:p/limits", verb::put, RouteId::kPutLimits},
      {"/v1/pipes/:p/allowed-origins", verb::post, RouteId::kAddOrigin},
      {"/v1/pipes/:p/allowed-origins/:c", verb::delete_, RouteId::kRemoveOrigin},
      {"/v1/pipes/:p/runs", verb::get, RouteId::kListRuns},
      {"/v1/pipes/:p/runs/:c", verb::get, RouteId::kGetRun},
      {"/v1/pipes/:p/destinations/:c/dead-letters", verb::get, RouteId::kListDeadLetters},
      {"/v1/pipes/:p/destinations/:c/dead-letters/replay", verb::post, RouteId::kReplayDeadLetters},
      {"/v1/api-keys", verb::get, RouteId::kListApiKeys},
      {"/v1/api-keys", verb::post, RouteId::kCreateApiKey},
      {"/v1/api-keys/:c", verb::delete_, RouteId::kRevokeApiKey},
  };
  return kTable;
}

// The table's patterns split into segments once, not on every request.
const std::vector<Segments>& table_parts() {
  static const std::vector<Segments> kParts = [] {
    std::vector<Segments> parts;
    for (const auto& e : table()) parts.push_back(split_path(e.pattern));
    return parts;
  }();
  return kParts;
}

Segments split_path(std::string_view path) {
  Segments parts;
  size_t start = 1;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    if (parts.count == Segments::kMaxSegments) {
      parts.overflow = true;
      break;
    }
    parts.items[parts.count++] = path.substr(start, end - start);
    start = end + 1;
  }
  return parts;
}

// Whether `path` matches `want` (":p" and ":c" match any one non-empty segment).
bool matches(const Segments& want, const Segments& path) {
  if (path.overflow || want.size() != path.size()) return false;
  for (size_t i = 0; i < want.size(); ++i) {
    if (path[i].empty()) return false;
    if (want[i] != ":p" && want[i] != ":c" && want[i] != path[i]) return false;
  }
  return true;
}

// The matched route's ids, copied out of the path once the route is chosen.
void fill_params(const Segments& want, const Segments& path, Route& route) {
  for (size_t i = 0; i < want.size(); ++i) {
    if (want[i] == ":p") route.pipe_id = path[i];
    if (want[i] == ":c") route.child_id = path[i];
  }
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string percent_decode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && hex_value(s[i + 1]) >= 0 && hex_value(s[i + 2]) >= 0) {
      out += static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
      i += 2;
    } else {
      out += s[i] == '+' ? ' ' : s[i];
    }
  }
  return out;
}

}  // namespace

Route match_route(verb method, std::string_view target) {
  Route route;
  auto q = target.find('?');
  std::string_view path = target.substr(0, q);
  if (q != std::string_view::npos) route.query = std::string(target.substr(q + 1));
  if (path.empty() || path.front() != '/') return route;
  if (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  auto parts = split_path(path);
  std::string allow;
  const char* matched = nullptr;
  const auto& entries = table();
  const auto& patterns = table_parts();
  for (size_t i = 0; i < entries.size(); ++i) {
    const Entry& e = entries[i];
    if (!matches(patterns[i], parts)) continue;
    if (e.method == method) {
      fill_params(patterns[i], parts, route);
      route.id = e.id;
      route.pattern = e.pattern;
      return route;
    }
    matched = e.pattern;
    allow += (allow.empty() ? "" : ", ") + std::string(boost::beast::http::to_string(e.method));
  }
  if (!allow.empty()) {
    route.id = RouteId::kMethodNotAllowed;
    route.pattern = matched;
    route.allow = allow;
  }
  return route;
}

std::string query_param(std::string_view query, std::string_view name) {
  size_t start = 0;
  while (start <= query.size()) {
    size_t end = query.find('&', start);
    if (end == std::string_view::npos) end = query.size();
    std::string_view pair = query.substr(start, end - start);
    auto eq = pair.find('=');
    if (pair.substr(0, eq) == name) return eq == std::string_view::npos ? "" : percent_decode(pair.substr(eq + 1));
    start = end + 1;
  }
  return "";
}

}  // namespace bp::gateway
