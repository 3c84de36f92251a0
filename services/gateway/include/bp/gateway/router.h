// Routing: method and path to a route and its path parameters. No I/O, no Asio.
#pragma once

// Beast 1.74's verb.hpp streams string_view without including <ostream>.
#include <ostream>
#include <string>
#include <string_view>

#include <boost/beast/http/verb.hpp>

namespace bp::gateway {

enum class RouteId {
  kNotFound,          // no such path
  kMethodNotAllowed,  // known path, other method; `allow` says which
  kHealth,
  kHealthz,
  kReadyz,
  kMetrics,
  kIngestPost,
  kIngestGet,
  kIngestOptions,
  kListPipes,
  kCreatePipe,
  kGetPipe,
  kUpdatePipe,
  kDeletePipe,
  kCreateDestination,
  kUpdateDestination,
  kSetDestinationStatus,
  kDeleteDestination,
  kPutLimits,
  kAddOrigin,
  kRemoveOrigin,
  kListRuns,
  kGetRun,
  kListDeadLetters,
  kReplayDeadLetters,
  kListApiKeys,
  kCreateApiKey,
  kRevokeApiKey,
};

struct Route {
  RouteId id = RouteId::kNotFound;
  // The route table's pattern ("/v1/pipes/:p/runs/:c"; ":p" is the pipe id, ":c" the child id),
  // for metrics labels; "unmatched" when no pattern matched the path.
  const char* pattern = "unmatched";
  std::string pipe_id;
  std::string child_id;  // destination, origin, run or API key id
  std::string allow;     // for kMethodNotAllowed: "GET, POST"
  std::string query;     // after '?', undecoded
};

Route match_route(boost::beast::http::verb method, std::string_view target);

// Value of a query parameter (percent-decoded); "" when absent.
std::string query_param(std::string_view query, std::string_view name);

}  // namespace bp::gateway
