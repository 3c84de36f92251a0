// Route matching and query parameters on any target and method.
#include <boost/beast/http/verb.hpp>

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "bp/gateway/router.h"

using namespace bp::gateway;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  auto method = static_cast<boost::beast::http::verb>(data[0] % 34);
  std::string_view target(reinterpret_cast<const char*>(data + 1), size - 1);
  Route r = match_route(method, target);
  (void)query_param(r.query, "limit");
  (void)query_param(r.query, "cursor");
  (void)query_param(target, "");
  return 0;
}
