// What integration tests need from the real Postgres and NATS that the test command started.
#pragma once

#include <string>

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

// A random 32-byte master key as 64 hex characters.
std::string random_master_key_hex();

}  // namespace bp::testing
