// Scratch databases on the test Postgres server.
#include "bp/testing/environment.h"

#include <cstdlib>
#include <random>
#include <stdexcept>

#include "bp/pg/connection.h"
#include "bp/uuid.h"

namespace bp::testing {
namespace {

std::string required_env(const char* name) {
  const char* v = std::getenv(name);
  if (!v || !*v) {
    throw std::runtime_error(std::string(name) +
                             " is not set: run the tests through `bash deploy/batchpipe.sh test`, which starts "
                             "Postgres and NATS for them");
  }
  return v;
}

// Replaces the database name (the path) of a postgresql:// URL.
std::string with_database(const std::string& url, const std::string& db) {
  auto scheme_end = url.find("://");
  auto slash = url.find('/', scheme_end == std::string::npos ? 0 : scheme_end + 3);
  auto query = url.find('?');
  std::string base = slash == std::string::npos ? url.substr(0, query) : url.substr(0, slash);
  std::string params = query == std::string::npos ? "" : url.substr(query);
  return base + "/" + db + params;
}

}  // namespace

std::string pg_admin_url() { return required_env("BP_TEST_PG_URL"); }
std::string nats_url() { return required_env("BP_TEST_NATS_URL"); }

ScratchDatabase::ScratchDatabase() {
  std::string id = uuid::v4();
  name_ = "bp_test_" + id.substr(0, 8) + id.substr(9, 4);
  auto admin = pg::Connection::connect(pg_admin_url());
  if (!admin) throw std::runtime_error(admin.error().message);
  if (auto r = admin->exec("CREATE DATABASE " + name_); !r) throw std::runtime_error(r.error().message);
  url_ = with_database(pg_admin_url(), name_);
}

ScratchDatabase::~ScratchDatabase() {
  auto admin = pg::Connection::connect(pg_admin_url());
  if (admin) (void)admin->exec("DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)");
}

std::string random_master_key_hex() {
  std::random_device rd;
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (int i = 0; i < 64; ++i) out += kHex[rd() % 16];
  return out;
}

}  // namespace bp::testing
