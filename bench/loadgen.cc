// bp_loadgen: HTTP load for the ingest endpoint over keep-alive connections. Closed loop (each
// connection sends as soon as its previous answer arrives) or open loop at a fixed rate, where
// latency counts from each request's intended send time (no coordinated omission). Several
// --url values spread the connections over several gateways; a connection that fails reconnects
// to the next one. With --record-ids every record carries a unique key and every request's
// outcome is written down, so that loss and duplicates can be counted in the sinks afterwards.
// The open loop sends on a grid (--grid-us, 250 µs): each request goes out at the first grid point
// at or after its intended time, and its latency still counts from the intended time. Requests
// that fall due together go out in one wakeup of the load generator rather than one each: on this
// benchmark's VM a wakeup costs more than the request's own work, and the load generator shares
// the machine with what it measures (docs/BENCHMARKS.md, 2026-12-06, fifth day session).
// Runs for --seconds, or until SIGTERM/SIGINT with --seconds=0 (in-flight requests finish first).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include "bp/asio.h"
#include "bp/json.h"
#include "open_loop.h"

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using bp::bench::percentile;

struct Target {
  std::string host;
  std::string port;
  std::string path;
};

struct Options {
  std::vector<Target> targets;
  std::string api_key;
  std::string origin;
  int connections = 64;
  int threads = 1;
  double seconds = 10;  // 0 = until SIGTERM/SIGINT
  double rate = 0;      // requests/s in total; 0 = closed loop
  int records = 1;
  int record_bytes = 294;
  int timeout_ms = 30000;  // one request, from write to answer
  double slow_ms = 0;      // > 0: each request slower than this is printed to stderr
  std::string ids_out;     // request ids of the 202s, one per line
  std::string record_ids;  // every request's outcome, with keyed records
  std::string tag;         // prefix of the record keys
  int grid_us = 250;       // open loop: sends go out on this grid (0: each at its own time)
  double warmup_s = 0;     // requests due in the first warmup_s go to their own percentiles
};

// What one connection saw; merged into the totals when it ends.
struct Tally {
  std::vector<double> latencies_ms;
  std::vector<double> warmup_ms;  // requests due within --warmup-s of the start
  std::map<int, uint64_t> by_status;
  uint64_t connect_errors = 0;  // refused or timed out before anything was sent
  uint64_t broken = 0;          // connection lost with a request in flight: outcome unknown
  uint64_t timeouts = 0;        // no answer within --timeout-ms
  uint64_t bytes_sent = 0;
  std::vector<std::string> accepted_ids;
  // "<status> <request_id|-> <records> <key> <error|->"; status 0 = no answer
  std::vector<std::string> outcomes;

  void merge(Tally& t) {
    latencies_ms.insert(latencies_ms.end(), t.latencies_ms.begin(), t.latencies_ms.end());
    warmup_ms.insert(warmup_ms.end(), t.warmup_ms.begin(), t.warmup_ms.end());
    for (auto [s, n] : t.by_status) by_status[s] += n;
    connect_errors += t.connect_errors;
    broken += t.broken;
    timeouts += t.timeouts;
    bytes_sent += t.bytes_sent;
    accepted_ids.insert(accepted_ids.end(), t.accepted_ids.begin(), t.accepted_ids.end());
    outcomes.insert(outcomes.end(), t.outcomes.begin(), t.outcomes.end());
  }
};

struct Run {
  Run(const Options& options, Clock::time_point from, Clock::time_point to, double interval)
      : o(options),
        start(from),
        warm(from + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(options.warmup_s))),
        end(to),
        interval_s(interval) {}
  const Options& o;
  Clock::time_point start;
  Clock::time_point warm;  // requests due before it are the warm-up's
  Clock::time_point end;  // max() = until stopped
  double interval_s;      // open loop: time between two requests of one connection
  std::atomic<bool> stopping{false};
  std::mutex mutex;
  Tally totals;
  std::vector<std::string> fixed_requests;  // per target, when requests carry no key (serialized())

  bool over() const { return stopping || Clock::now() >= end; }
};

std::string padded_record(const Options& o, const std::string& head) {
  std::string base = "{" + head + R"("event":"signup","user_id":"123","plan":"pro","source":"bench","pad":")";
  int pad = std::max(0, o.record_bytes - static_cast<int>(base.size()) - 2);
  return base + std::string(pad, 'x') + "\"}";
}

// The same body every time, or (with a key) records {"k":KEY,"i":INDEX,...} that name themselves.
std::string make_body(const Options& o, const std::string& key = "") {
  if (key.empty() && o.records == 1) return padded_record(o, "");
  std::string body = "[";
  for (int i = 0; i < o.records; ++i) {
    std::string head = key.empty() ? "" : "\"k\":\"" + key + "\",\"i\":" + std::to_string(i) + ",";
    body += (i ? "," : "") + padded_record(o, head);
  }
  return body + "]";
}

bool is_timeout(const boost::system::error_code& ec) { return ec == beast::error::timeout; }

http::request<http::string_body> make_request(const Options& o, const Target& t, std::string body) {
  http::request<http::string_body> req{http::verb::post, t.path, 11};
  req.set(http::field::host, t.host);
  req.set(http::field::content_type, "application/json");
  if (!o.api_key.empty()) req.set(http::field::authorization, "Bearer " + o.api_key);
  if (!o.origin.empty()) req.set(http::field::origin, o.origin);
  req.keep_alive(true);
  req.body() = std::move(body);
  req.prepare_payload();
  return req;
}

// Without keyed records every request to a target is the same bytes: serialized once per target
// (in main, shared by every connection), so that the load generator, which shares the machine
// with what it measures, spends its time on the sockets rather than on building requests.
std::string serialized(const Options& o, const Target& t, const std::string& body) {
  std::ostringstream out;
  out << make_request(o, t, body);
  return out.str();
}

asio::awaitable<void> connection(Run& run, const std::string& fixed_body, int index) {
  const Options& o = run.o;
  auto ex = co_await asio::this_coro::executor;
  tcp::resolver resolver(ex);
  asio::steady_timer timer(ex);
  Tally tally;
  size_t target_index = static_cast<size_t>(index) % o.targets.size();
  uint64_t seq = 0;
  // Open loop: this connection's share of the schedule, staggered across connections.
  auto every = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(run.interval_s));
  Clock::time_point intended = run.start + every * index / o.connections;
  const auto grid = std::chrono::duration_cast<Clock::duration>(std::chrono::microseconds(o.grid_us));
  auto pause = [&](Clock::time_point until) -> asio::awaitable<void> {
    if (until <= Clock::now()) co_return;
    timer.expires_at(until);
    boost::system::error_code ignored;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
  };

  while (!run.over()) {
    const Target& t = o.targets[target_index];
    beast::tcp_stream stream(ex);
    boost::system::error_code ec;
    auto endpoints = co_await resolver.async_resolve(t.host, t.port, asio::redirect_error(asio::use_awaitable, ec));
    if (!ec) {
      stream.expires_after(std::chrono::seconds(2));
      co_await stream.async_connect(endpoints, asio::redirect_error(asio::use_awaitable, ec));
    }
    if (ec) {
      ++tally.connect_errors;
      target_index = (target_index + 1) % o.targets.size();  // another gateway, after a short pause
      co_await pause(Clock::now() + std::chrono::milliseconds(100));
      continue;
    }
    stream.socket().set_option(tcp::no_delay(true));
    // After a reconnect the open loop resumes from now: no burst to catch up with missed slots.
    if (o.rate > 0 && intended < Clock::now()) intended = Clock::now();
    beast::flat_buffer buffer;
    bool reconnect = false;
    while (!reconnect && !run.over()) {
      if (o.rate > 0) {
        co_await pause(bp::bench::on_grid(run.start, grid, intended));
        if (run.over()) break;
      }
      auto sent_at = o.rate > 0 ? intended : Clock::now();
      auto actually_sent = o.slow_ms > 0 ? Clock::now() : sent_at;  // only --slow-ms reports it
      std::string key = o.record_ids.empty() ? "" : o.tag + "." + std::to_string(index) + "." + std::to_string(++seq);
      http::response<http::string_body> res;
      stream.expires_after(std::chrono::milliseconds(o.timeout_ms));
      size_t body_bytes = fixed_body.size();
      if (key.empty()) {
        co_await asio::async_write(stream, asio::buffer(run.fixed_requests[target_index]),
                                   asio::redirect_error(asio::use_awaitable, ec));
      } else {
        auto req = make_request(o, t, make_body(o, key));
        body_bytes = req.body().size();
        co_await http::async_write(stream, req, asio::redirect_error(asio::use_awaitable, ec));
      }
      if (!ec) co_await http::async_read(stream, buffer, res, asio::redirect_error(asio::use_awaitable, ec));
      if (o.rate > 0) intended += every;
      if (ec) {
        // Sent (maybe in part) and never answered: the records may or may not be in the stream.
        ++(is_timeout(ec) ? tally.timeouts : tally.broken);
        if (!key.empty()) tally.outcomes.push_back("0 - " + std::to_string(o.records) + " " + key + " -");
        target_index = (target_index + 1) % o.targets.size();
        break;
      }
      tally.bytes_sent += body_bytes;
      double latency_ms = std::chrono::duration<double, std::milli>(Clock::now() - sent_at).count();
      // Only with --warmup-s: a closed loop's connections may send before run.start.
      bool warming = o.warmup_s > 0 && sent_at < run.warm;
      (warming ? tally.warmup_ms : tally.latencies_ms).push_back(latency_ms);
      if (o.slow_ms > 0 && latency_ms > o.slow_ms) {
        // Where a slow request's time went: waiting to be sent (its connection still busy with
        // the one before, in an open loop) or waiting for the answer.
        std::fprintf(stderr, "slow at_ms=%.1f latency_ms=%.1f sent_late_ms=%.1f connection=%d\n",
                     std::chrono::duration<double, std::milli>(sent_at - run.start).count(), latency_ms,
                     std::chrono::duration<double, std::milli>(actually_sent - sent_at).count(), index);
      }
      int status = static_cast<int>(res.result_int());
      ++tally.by_status[status];
      std::string request_id = "-", error = "-";
      // The body is read only when someone asks for it (the benchmark's load generator stays cheap).
      bool want_body = !key.empty() || (status == 202 && !o.ids_out.empty());
      if (auto doc = bp::json::parse(want_body ? std::string_view(res.body()) : std::string_view("null"));
          doc && doc->IsObject()) {
        if (auto id = bp::json::get_string(*doc, "request_id")) request_id = *id;
        if (auto e = bp::json::get_string(*doc, "error")) error = *e;
      }
      if (status == 202 && !o.ids_out.empty()) tally.accepted_ids.push_back(request_id);
      if (!key.empty()) {
        tally.outcomes.push_back(std::to_string(status) + " " + request_id + " " + std::to_string(o.records) + " " + key +
                                 " " + error);
      }
      reconnect = !res.keep_alive();
    }
    boost::system::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  }
  std::lock_guard lock(run.mutex);
  run.totals.merge(tally);
}

std::optional<Target> parse_url(const std::string& url) {  // http://host:port/path
  auto scheme = url.find("://");
  if (url.rfind("http://", 0) != 0 || scheme == std::string::npos) return std::nullopt;
  auto rest = url.substr(scheme + 3);
  auto slash = rest.find('/');
  if (slash == std::string::npos) return std::nullopt;
  auto authority = rest.substr(0, slash);
  auto colon = authority.rfind(':');
  return Target{authority.substr(0, colon), colon == std::string::npos ? "80" : authority.substr(colon + 1),
                rest.substr(slash)};
}

const char* kUsage =
    "usage: bp_loadgen --url=http://127.0.0.1:8080/v1/ingest/<pipe> [--url=... (more gateways)] [--key=] "
    "[--origin=] [--connections=64] [--threads=1] [--seconds=10 (0: until SIGTERM)] [--rate=0] [--records=1] "
    "[--record-bytes=294] [--timeout-ms=30000] [--slow-ms=0] [--ids-out=file] [--record-ids=file] [--tag=lg<pid>] "
    "[--grid-us=250 (open loop: sends on this grid; 0: each at its own time)] "
    "[--warmup-s=0 (latencies of requests due in the first seconds reported apart)]\n";

int main(int argc, char** argv) {
  Options o;
  o.tag = "lg" + std::to_string(getpid());
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](const char* name) -> const char* {
      std::string prefix = std::string("--") + name + "=";
      return a.rfind(prefix, 0) == 0 ? argv[i] + prefix.size() : nullptr;
    };
    try {
      if (auto v = value("url")) {
        auto t = parse_url(v);
        if (!t) throw std::invalid_argument(a);
        o.targets.push_back(*t);
      } else if (auto v = value("key")) o.api_key = v;
      else if (auto v = value("origin")) o.origin = v;
      else if (auto v = value("connections")) o.connections = std::stoi(v);
      else if (auto v = value("threads")) o.threads = std::stoi(v);
      else if (auto v = value("seconds")) o.seconds = std::stod(v);
      else if (auto v = value("rate")) o.rate = std::stod(v);
      else if (auto v = value("records")) o.records = std::stoi(v);
      else if (auto v = value("record-bytes")) o.record_bytes = std::stoi(v);
      else if (auto v = value("timeout-ms")) o.timeout_ms = std::stoi(v);
      else if (auto v = value("slow-ms")) o.slow_ms = std::stod(v);
      else if (auto v = value("ids-out")) o.ids_out = v;
      else if (auto v = value("record-ids")) o.record_ids = v;
      else if (auto v = value("tag")) o.tag = v;
      else if (auto v = value("grid-us")) o.grid_us = std::stoi(v);
      else if (auto v = value("warmup-s")) o.warmup_s = std::stod(v);
      else throw std::invalid_argument(a);
    } catch (const std::exception&) {
      std::cerr << "bp_loadgen: bad argument '" << a << "'\n" << kUsage;
      return 2;
    }
  }
  if (o.targets.empty() || o.connections < 1 || o.threads < 1 || o.records < 1 || o.timeout_ms < 1 ||
      o.seconds < 0 || o.rate < 0 || o.grid_us < 0 || o.warmup_s < 0 ||
      (o.seconds > 0 && o.warmup_s >= o.seconds)) {
    std::cerr << kUsage;
    return 2;
  }
  std::string body = make_body(o);
  asio::io_context io(o.threads);
  auto start = Clock::now() + std::chrono::milliseconds(200);
  auto end = o.seconds > 0
                 ? start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.seconds))
                 : Clock::time_point::max();
  Run run(o, start, end, o.rate > 0 ? o.connections / o.rate : 0);
  if (o.record_ids.empty()) {
    for (const auto& t : o.targets) run.fixed_requests.push_back(serialized(o, t, body));
  }

  // SIGTERM/SIGINT: no new requests; those in flight get their answer (or their timeout).
  auto signal_strand = asio::make_strand(io);
  asio::signal_set signals(signal_strand, SIGTERM, SIGINT);
  signals.async_wait([&run](const boost::system::error_code& ec, int) {
    if (!ec) run.stopping = true;
  });
  std::atomic<int> running{o.connections};
  // One thread needs no strands (each costs a shared, type-erased executor per operation).
  auto executor = [&]() -> asio::any_io_executor {
    if (o.threads == 1) return io.get_executor();
    return asio::make_strand(io);
  };
  for (int c = 0; c < o.connections; ++c) {
    asio::co_spawn(executor(), connection(run, body, c),
                   [&](std::exception_ptr e) {
                     if (e) {
                       std::lock_guard lock(run.mutex);
                       ++run.totals.broken;
                     }
                     if (--running == 0) asio::post(signal_strand, [&signals] { signals.cancel(); });
                   });
  }
  std::vector<std::thread> threads;
  for (int t = 0; t < o.threads; ++t) threads.emplace_back([&io] { io.run(); });
  for (auto& t : threads) t.join();
  double elapsed = std::chrono::duration<double>(Clock::now() - start).count();

  Tally& totals = run.totals;
  auto& l = totals.latencies_ms;
  auto& w = totals.warmup_ms;
  std::sort(l.begin(), l.end());
  std::sort(w.begin(), w.end());
  uint64_t accepted = totals.by_status[202];
  size_t requests = l.size() + w.size();
  double rps = static_cast<double>(requests) / elapsed;
  std::string statuses;
  for (auto [s, n] : totals.by_status) statuses += (statuses.empty() ? "" : ",") + ("\"" + std::to_string(s) + "\":" + std::to_string(n));
  uint64_t errors = totals.connect_errors + totals.broken + totals.timeouts;
  std::printf(
      "{\"mode\":\"%s\",\"rate\":%.0f,\"connections\":%d,\"records_per_request\":%d,\"body_bytes\":%zu,\"seconds\":%.2f,"
      "\"requests\":%zu,\"req_per_s\":%.0f,\"records_per_s\":%.0f,\"mb_per_s\":%.2f,\"accepted\":%lu,"
      "\"records_accepted\":%lu,\"p50_ms\":%.3f,\"p90_ms\":%.3f,\"p99_ms\":%.3f,\"p999_ms\":%.3f,\"max_ms\":%.3f,"
      "\"errors\":%lu,\"connect_errors\":%lu,\"broken\":%lu,\"timeouts\":%lu,\"status\":{%s},\"started_monotonic_s\":%.6f,"
      "\"warmup_s\":%.1f,\"warmup_requests\":%zu,\"warmup_p99_ms\":%.3f,\"warmup_max_ms\":%.3f}\n",
      o.rate > 0 ? "open" : "closed", o.rate, o.connections, o.records, body.size(), elapsed, requests, rps,
      rps * o.records, static_cast<double>(totals.bytes_sent) / elapsed / 1e6, static_cast<unsigned long>(accepted),
      static_cast<unsigned long>(accepted * static_cast<uint64_t>(o.records)), percentile(l, 50), percentile(l, 90),
      percentile(l, 99), percentile(l, 99.9), l.empty() ? 0 : l.back(), static_cast<unsigned long>(errors),
      static_cast<unsigned long>(totals.connect_errors), static_cast<unsigned long>(totals.broken),
      static_cast<unsigned long>(totals.timeouts), statuses.c_str(),
      // When the load began on CLOCK_MONOTONIC (steady_clock's clock here), to line it up with a
      // trace taken meanwhile (bench/placement.sh: `perf sched record -k CLOCK_MONOTONIC`).
      std::chrono::duration<double>(start.time_since_epoch()).count(), o.warmup_s, w.size(), percentile(w, 99),
      w.empty() ? 0 : w.back());
  if (!o.ids_out.empty()) {
    std::ofstream out(o.ids_out);
    for (const auto& id : totals.accepted_ids) out << id << "\n";
  }
  if (!o.record_ids.empty()) {
    std::ofstream out(o.record_ids);
    for (const auto& line : totals.outcomes) out << line << "\n";
  }
  return 0;
}
