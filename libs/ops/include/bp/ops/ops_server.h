// The operations endpoint every service serves: /healthz (alive), /readyz (dependencies answer).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "bp/result.h"

namespace bp::ops {

struct Probes {
  // Ready when this returns ok; the error message is shown in the 503 body.
  std::function<Status()> ready;
  // Prometheus text exposition for /metrics; empty function: 404.
  std::function<std::string()> metrics;
};

// A small HTTP server on its own thread; stops when destroyed.
class OpsServer {
 public:
  // listen: "host:port". Fails when the address cannot be bound.
  static Result<std::unique_ptr<OpsServer>> start(const std::string& listen, Probes probes);
  ~OpsServer();
  unsigned short port() const;

  struct Impl;

 private:
  explicit OpsServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Splits "host:port" (port 0 = any free port). Error::invalid on bad input.
Result<std::pair<std::string, unsigned short>> split_host_port(const std::string& listen);

}  // namespace bp::ops
