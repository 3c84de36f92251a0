// bp_await_metric: reads one sample of a Prometheus /metrics page, or waits until it reaches a
// value. The drains of bench/delivery.sh time a sink from activation until its records-delivered
// counter has grown by the backlog; this polls it over one keep-alive connection, so that the
// harness takes almost nothing of the two cores it measures (reading /metrics from bash took one
// read(2) per byte: 7% of the machine during a Postgres drain, perf, 2026-12-06).
//
//   bp_await_metric HOST:PORT SAMPLE                  prints SAMPLE's value (0 when absent)
//   bp_await_metric HOST:PORT SAMPLE AT_LEAST SECONDS returns once SAMPLE >= AT_LEAST (status 0),
//                                                      or after SECONDS (status 1)
// SAMPLE is a metric name with its labels, as the page writes it: name{label="value"}.
// A page that cannot be read is an error (status 2): a wait would otherwise time out silently.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "bp/asio.h"

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

class Page {
 public:
  Page(std::string host, std::string port) : host_(std::move(host)), port_(std::move(port)) {}

  // The body of GET /metrics; reconnects once when a kept-alive connection was closed. Each
  // exchange has 5 s (a worker that accepts and never answers is an error, not a hang).
  std::string get() {
    for (int attempt = 0;; ++attempt) {
      boost::system::error_code ec;
      http::request<http::empty_body> req{http::verb::get, "/metrics", 11};
      req.set(http::field::host, host_);
      http::response<http::string_body> res;
      beast::flat_buffer buffer;
      auto read = [&] { http::async_read(stream_, buffer, res, [&](auto e, size_t) { ec = e; }); };
      auto write = [&] {
        http::async_write(stream_, req, [&](auto e, size_t) {
          if (!(ec = e)) read();
        });
      };
      stream_.expires_after(std::chrono::seconds(5));
      if (stream_.socket().is_open()) {
        write();
      } else {
        stream_.async_connect(tcp::resolver(io_).resolve(host_, port_), [&](auto e, const auto&) {
          if (!(ec = e)) write();
        });
      }
      io_.restart();
      io_.run();
      if (!ec && res.result() == http::status::ok) {
        if (!res.keep_alive()) stream_.close();
        return std::move(res.body());
      }
      stream_.close();
      if (attempt > 0) throw std::runtime_error(ec ? ec.message() : "status " + std::to_string(res.result_int()));
    }
  }

 private:
  std::string host_, port_;
  asio::io_context io_;
  beast::tcp_stream stream_{io_};
};

// The value of the line whose first field is exactly `sample`; 0 when there is none (a counter
// not yet incremented).
double value_of(std::string_view page, std::string_view sample) {
  size_t at = 0;
  while (at < page.size()) {
    size_t end = page.find('\n', at);
    if (end == std::string_view::npos) end = page.size();
    std::string_view line = page.substr(at, end - at);
    at = end + 1;
    if (line.size() > sample.size() && line.substr(0, sample.size()) == sample && line[sample.size()] == ' ') {
      return std::strtod(std::string(line.substr(sample.size() + 1)).c_str(), nullptr);
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3 && argc != 5) {
    std::cerr << "usage: bp_await_metric HOST:PORT SAMPLE [AT_LEAST SECONDS]\n";
    return 2;
  }
  std::string address = argv[1];
  size_t colon = address.rfind(':');
  if (colon == std::string::npos) {
    std::cerr << "bp_await_metric: HOST:PORT expected, got " << address << "\n";
    return 2;
  }
  Page page(address.substr(0, colon), address.substr(colon + 1));
  std::string sample = argv[2];
  try {
    if (argc == 3) {
      std::printf("%.0f\n", value_of(page.get(), sample));
      return 0;
    }
    double at_least = std::strtod(argv[3], nullptr);
    auto deadline = Clock::now() + std::chrono::duration<double>(std::strtod(argv[4], nullptr));
    // Every 50 ms: a drain of a minute is timed to a tenth of a percent. Not more often: each
    // page the worker renders asks nats-server for its consumers' backlog.
    for (;;) {
      double value = value_of(page.get(), sample);
      if (value >= at_least) return 0;
      if (Clock::now() >= deadline) {
        std::cerr << "bp_await_metric: " << sample << " is " << value << ", not " << argv[3] << ", after " << argv[4]
                  << " s\n";
        return 1;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  } catch (const std::exception& e) {
    std::cerr << "bp_await_metric: cannot read http://" << address << "/metrics: " << e.what() << "\n";
    return 2;
  }
}
