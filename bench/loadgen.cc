// bp_loadgen: HTTP load for the ingest endpoint over keep-alive connections. Closed loop (each
// connection sends as soon as its previous answer arrives) or open loop at a fixed rate, where
// latency counts from each request's intended send time (no coordinated omission). Records the
// request_id of every 202 so that loss can be counted afterwards.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "bp/asio.h"
#include "bp/json.h"

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

struct Options {
  std::string host = "127.0.0.1";
  std::string port = "8080";
  std::string target;
  std::string api_key;
  std::string origin;
  int connections = 64;
  int threads = 1;
  double seconds = 10;
  double rate = 0;  // requests/s in total; 0 = closed loop
  int records = 1;
  int record_bytes = 294;
  std::string ids_out;
};

struct Totals {
  std::mutex mutex;
  std::vector<double> latencies_ms;
  std::map<int, uint64_t> by_status;
  uint64_t errors = 0;
  uint64_t bytes_sent = 0;
  std::vector<std::string> request_ids;
};

std::string make_body(const Options& o) {
  // One record of about record_bytes bytes, repeated.
  std::string base = R"({"event":"signup","user_id":"123","plan":"pro","source":"bench","pad":")";
  int pad = std::max(0, o.record_bytes - static_cast<int>(base.size()) - 2);
  std::string record = base + std::string(pad, 'x') + "\"}";
  if (o.records == 1) return record;
  std::string body = "[";
  for (int i = 0; i < o.records; ++i) body += (i ? "," : "") + record;
  return body + "]";
}

asio::awaitable<void> connection(const Options& o, const std::string& body, Clock::time_point start,
                                 Clock::time_point end, double interval_s, int index, Totals& totals) {
  auto ex = co_await asio::this_coro::executor;
  tcp::resolver resolver(ex);
  beast::tcp_stream stream(ex);
  auto endpoints = co_await resolver.async_resolve(o.host, o.port, asio::use_awaitable);
  co_await stream.async_connect(endpoints, asio::use_awaitable);
  stream.socket().set_option(tcp::no_delay(true));
  beast::flat_buffer buffer;
  std::vector<double> latencies;
  std::map<int, uint64_t> statuses;
  std::vector<std::string> ids;
  uint64_t errors = 0, sent = 0;
  // Open loop: this connection's share of the schedule, staggered across connections.
  Clock::time_point intended = start + std::chrono::duration_cast<Clock::duration>(
                                           std::chrono::duration<double>(interval_s * index / o.connections));
  asio::steady_timer timer(ex);
  for (;;) {
    if (o.rate > 0) {
      if (intended >= end) break;
      if (intended > Clock::now()) {
        timer.expires_at(intended);
        co_await timer.async_wait(asio::use_awaitable);
      }
    } else if (Clock::now() >= end) {
      break;
    }
    auto sent_at = o.rate > 0 ? intended : Clock::now();
    http::request<http::string_body> req{http::verb::post, o.target, 11};
    req.set(http::field::host, o.host);
    req.set(http::field::content_type, "application/json");
    if (!o.api_key.empty()) req.set(http::field::authorization, "Bearer " + o.api_key);
    if (!o.origin.empty()) req.set(http::field::origin, o.origin);
    req.keep_alive(true);
    req.body() = body;
    req.prepare_payload();
    boost::system::error_code ec;
    co_await http::async_write(stream, req, asio::redirect_error(asio::use_awaitable, ec));
    http::response<http::string_body> res;
    if (!ec) co_await http::async_read(stream, buffer, res, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      ++errors;
      break;  // the connection is gone; the run reports it
    }
    sent += body.size();
    latencies.push_back(std::chrono::duration<double, std::milli>(Clock::now() - sent_at).count());
    ++statuses[res.result_int()];
    if (res.result_int() == 202 && !o.ids_out.empty()) {
      auto doc = bp::json::parse(res.body());
      if (doc) {
        if (auto id = bp::json::get_string(*doc, "request_id")) ids.push_back(*id);
      }
    }
    if (o.rate > 0) intended += std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(interval_s));
  }
  std::lock_guard lock(totals.mutex);
  totals.latencies_ms.insert(totals.latencies_ms.end(), latencies.begin(), latencies.end());
  for (auto [s, n] : statuses) totals.by_status[s] += n;
  totals.errors += errors;
  totals.bytes_sent += sent;
  totals.request_ids.insert(totals.request_ids.end(), ids.begin(), ids.end());
}

double percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  size_t i = static_cast<size_t>(p / 100.0 * static_cast<double>(sorted.size() - 1) + 0.5);
  return sorted[std::min(i, sorted.size() - 1)];
}

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](const char* name) -> const char* {
      std::string prefix = std::string("--") + name + "=";
      return a.rfind(prefix, 0) == 0 ? argv[i] + prefix.size() : nullptr;
    };
    if (auto v = value("url")) {
      std::string url = v;  // http://host:port/target
      auto rest = url.substr(url.find("://") + 3);
      auto slash = rest.find('/');
      auto authority = rest.substr(0, slash);
      o.target = rest.substr(slash);
      auto colon = authority.rfind(':');
      o.host = authority.substr(0, colon);
      o.port = colon == std::string::npos ? "80" : authority.substr(colon + 1);
    } else if (auto v = value("key")) o.api_key = v;
    else if (auto v = value("origin")) o.origin = v;
    else if (auto v = value("connections")) o.connections = std::stoi(v);
    else if (auto v = value("threads")) o.threads = std::stoi(v);
    else if (auto v = value("seconds")) o.seconds = std::stod(v);
    else if (auto v = value("rate")) o.rate = std::stod(v);
    else if (auto v = value("records")) o.records = std::stoi(v);
    else if (auto v = value("record-bytes")) o.record_bytes = std::stoi(v);
    else if (auto v = value("ids-out")) o.ids_out = v;
    else {
      std::cerr << "usage: bp_loadgen --url=http://127.0.0.1:8080/v1/ingest/<pipe> [--key=] [--origin=] "
                   "[--connections=64] [--threads=1] [--seconds=10] [--rate=0] [--records=1] [--record-bytes=294] "
                   "[--ids-out=file]\n";
      return 2;
    }
  }
  std::string body = make_body(o);
  Totals totals;
  asio::io_context io(o.threads);
  auto start = Clock::now() + std::chrono::milliseconds(200);
  auto end = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.seconds));
  double interval_s = o.rate > 0 ? o.connections / o.rate : 0;
  for (int c = 0; c < o.connections; ++c) {
    asio::co_spawn(asio::make_strand(io), connection(o, body, start, end, interval_s, c, totals),
                   [&totals](std::exception_ptr e) {
                     if (!e) return;
                     std::lock_guard lock(totals.mutex);
                     ++totals.errors;
                   });
  }
  std::vector<std::thread> threads;
  for (int t = 0; t < o.threads; ++t) threads.emplace_back([&io] { io.run(); });
  for (auto& t : threads) t.join();
  double elapsed = std::chrono::duration<double>(Clock::now() - start).count();

  auto& l = totals.latencies_ms;
  std::sort(l.begin(), l.end());
  uint64_t accepted = totals.by_status[202];
  double rps = static_cast<double>(l.size()) / elapsed;
  std::string statuses;
  for (auto [s, n] : totals.by_status) statuses += (statuses.empty() ? "" : ",") + ("\"" + std::to_string(s) + "\":" + std::to_string(n));
  std::printf(
      "{\"mode\":\"%s\",\"connections\":%d,\"records_per_request\":%d,\"body_bytes\":%zu,\"seconds\":%.2f,"
      "\"requests\":%zu,\"req_per_s\":%.0f,\"records_per_s\":%.0f,\"mb_per_s\":%.2f,\"accepted\":%lu,"
      "\"p50_ms\":%.3f,\"p90_ms\":%.3f,\"p99_ms\":%.3f,\"p999_ms\":%.3f,\"max_ms\":%.3f,\"errors\":%lu,"
      "\"status\":{%s}}\n",
      o.rate > 0 ? "open" : "closed", o.connections, o.records, body.size(), elapsed, l.size(), rps,
      rps * o.records, static_cast<double>(totals.bytes_sent) / elapsed / 1e6, static_cast<unsigned long>(accepted),
      percentile(l, 50), percentile(l, 90), percentile(l, 99), percentile(l, 99.9), l.empty() ? 0 : l.back(),
      static_cast<unsigned long>(totals.errors), statuses.c_str());
  if (!o.ids_out.empty()) {
    std::ofstream out(o.ids_out);
    for (const auto& id : totals.request_ids) out << id << "\n";
  }
  return 0;
}
