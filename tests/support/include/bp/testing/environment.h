// What integration tests need from the real Postgres and NATS that the test command started.
#pragma once

#include <string>
#include <vector>

namespace bp::testing {

// BP_TEST_PG_URL / BP_TEST_NATS_URL; tests that need them call these and fail loudly without them.
std::string pg_admin_url();
std::string nats_url();

// A fresh, uniquely named database on the test server, dropped when this object dies.
class ScratchDatabase {
 public:
  ScratchDatabase();
  ~ScratchDatabase();
  ScratchDatabase(const ScratchDatabase&) = delete;
  ScratchDatabase& operator=(const ScratchDatabase&) = delete;
  const std::string& url() const { return url_; }
  const std::string& name() const { return name_; }

 private:
  std::string name_;
  std::string url_;
};

// A nats-server of the test's own (for tests that stop it or configure it): JetStream on, a
// store in a fresh temporary directory, a free loopback port. stop() kills it (SIGKILL);
// start() brings it back on the same port and store.
class NatsServerProcess {
 public:
  explicit NatsServerProcess(std::vector<std::string> extra_args = {});
  ~NatsServerProcess();
  NatsServerProcess(const NatsServerProcess&) = delete;
  NatsServerProcess& operator=(const NatsServerProcess&) = delete;
  void start();
  void stop();
  int port() const { return port_; }
  std::string url() const { return "nats://127.0.0.1:" + std::to_string(port_); }

 private:
  std::vector<std::string> args_;
  std::string dir_;
  int port_ = 0;
  int pid_ = -1;
};

// A random 32-byte master key as 64 hex characters.
std::string random_master_key_hex();

}  // namespace bp::testing
