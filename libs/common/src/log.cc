// Structured logging: one JSON object per line, written whole so lines from threads never interleave.
#include "bp/log.h"

#include <atomic>
#include <cstdio>
#include <mutex>

#include "bp/clock.h"
#include "bp/json.h"

namespace bp::log {
namespace {

std::mutex g_mutex;
std::string g_service = "batchpipe";
std::atomic<Level> g_min_level{Level::kInfo};

const char* level_name(Level level) {
  switch (level) {
    case Level::kDebug: return "debug";
    case Level::kInfo: return "info";
    case Level::kWarn: return "warn";
    case Level::kError: return "error";
  }
  return "info";
}

}  // namespace

void set_service(std::string name) {
  std::lock_guard lock(g_mutex);
  g_service = std::move(name);
}

void set_min_level(Level level) { g_min_level = level; }

void set_min_level(std::string_view name) {
  if (name == "debug") set_min_level(Level::kDebug);
  if (name == "info") set_min_level(Level::kInfo);
  if (name == "warn") set_min_level(Level::kWarn);
  if (name == "error") set_min_level(Level::kError);
}

void write(Level level, std::string_view message, std::initializer_list<Field> fields) {
  if (level < g_min_level.load(std::memory_order_relaxed)) return;
  std::string line;
  line.reserve(128 + message.size());
  line += "{\"ts\":" + json::quote(clock::now_rfc3339());
  line += ",\"level\":\"";
  line += level_name(level);
  line += '"';
  {
    std::lock_guard lock(g_mutex);
    line += ",\"service\":" + json::quote(g_service);
  }
  line += ",\"msg\":" + json::quote(message);
  for (const auto& [key, value] : fields) {
    line += ',' + json::quote(key) + ':' + json::quote(value);
  }
  line += "}\n";
  std::lock_guard lock(g_mutex);
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

}  // namespace bp::log
