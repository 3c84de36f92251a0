// Wall-clock timestamps in the RFC 3339 form the API returns.
#pragma once

#include <chrono>
#include <string>

namespace bp::clock {

// 2026-04-12T12:00:00.000Z
std::string rfc3339_millis(std::chrono::system_clock::time_point t);
inline std::string now_rfc3339() { return rfc3339_millis(std::chrono::system_clock::now()); }

}  // namespace bp::clock
