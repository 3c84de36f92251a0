// CPU cost of the gateway's body check (prepare_records) per request, without the network:
// the part of the hot path that grows with the body. Compares the SAX fast path (no enrichment:
// validate and pass the client's bytes through) with the DOM path (enrichment: parse, add fields,
// serialize again).
//
//   bp_ingest_rules_bench [seconds per case]    (default 1)
//
// Prints one Markdown row per case: body size, records, ns per request, MB/s. Best of 5 runs, so
// that a busy neighbour on the machine costs as little as possible; still a wall-clock figure.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "bp/gateway/ingest_rules.h"

namespace {

using Clock = std::chrono::steady_clock;

std::string record(int i) {
  return "{\"event\":\"page_view\",\"user_id\":\"u-" + std::to_string(100000 + i) +
         "\",\"url\":\"https://example.com/products/" + std::to_string(i) +
         "?ref=newsletter\",\"ts\":1732400000123,\"props\":{\"plan\":\"pro\",\"items\":[1,2,3],\"price\":19.99,"
         "\"tags\":[\"a\",\"b\"],\"ok\":true}}";
}

std::string body(int records) {
  if (records == 1) return record(0);
  std::string out = "[";
  for (int i = 0; i < records; ++i) {
    if (i) out += ',';
    out += record(i);
  }
  return out + "]";
}

// Nanoseconds per call, best of five runs of `seconds / 5` each.
double measure(const std::string& b, const bp::gateway::Enrichment& e, double seconds) {
  double best = 1e18;
  for (int run = 0; run < 5; ++run) {
    auto until = Clock::now() + std::chrono::duration<double>(seconds / 5);
    long calls = 0;
    auto start = Clock::now();
    while (Clock::now() < until) {
      for (int i = 0; i < 64; ++i) {
        auto r = bp::gateway::prepare_records(b, e, std::nullopt, 64);
        if (!std::holds_alternative<bp::gateway::PreparedRecords>(r)) std::abort();
      }
      calls += 64;
    }
    double ns = std::chrono::duration<double, std::nano>(Clock::now() - start).count() / calls;
    best = std::min(best, ns);
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = argc > 1 ? std::atof(argv[1]) : 1.0;
  if (seconds <= 0) seconds = 1.0;
  bp::gateway::Enrichment none;
  bp::gateway::Enrichment enriched{"received_at", "2026-11-24T10:00:00.000Z", "client_ip", "203.0.113.7"};
  std::printf("| records | body bytes | path | ns/request | MB/s |\n| ---: | ---: | --- | ---: | ---: |\n");
  for (int records : {1, 10, 100, 1000}) {
    std::string b = body(records);
    for (auto [name, e] : {std::pair{"SAX, as sent (no enrichment)", none}, std::pair{"DOM, enriched", enriched}}) {
      double ns = measure(b, e, seconds);
      std::printf("| %d | %zu | %s | %.0f | %.0f |\n", records, b.size(), name, ns, b.size() / ns * 1e3);
    }
  }
}
