// Scratch databases on the test Postgres server; nats-servers of a test's own.
#include "bp/testing/environment.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <thread>
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

namespace {

int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    throw std::runtime_error("no free port");
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

bool accepts(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

}  // namespace

NatsServerProcess::NatsServerProcess(std::vector<std::string> extra_args) : args_(std::move(extra_args)) {
  char dir[] = "/tmp/bp-test-nats-XXXXXX";
  if (!::mkdtemp(dir)) throw std::runtime_error("mkdtemp failed");
  dir_ = dir;
  port_ = free_port();
  start();
}

NatsServerProcess::~NatsServerProcess() {
  stop();
  std::filesystem::remove_all(dir_);
}

void NatsServerProcess::start() {
  if (pid_ > 0) return;
  std::vector<std::string> argv = {"nats-server", "-js", "-sd", dir_, "-a", "127.0.0.1", "-p", std::to_string(port_)};
  argv.insert(argv.end(), args_.begin(), args_.end());
  pid_ = ::fork();
  if (pid_ == 0) {
    int null = ::open("/dev/null", O_WRONLY);
    ::dup2(null, 1);
    ::dup2(null, 2);
    std::vector<char*> raw;
    for (auto& a : argv) raw.push_back(a.data());
    raw.push_back(nullptr);
    ::execvp(raw[0], raw.data());
    ::_exit(127);
  }
  if (pid_ < 0) throw std::runtime_error("fork failed");
  for (int i = 0; i < 200; ++i) {
    if (accepts(port_)) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  throw std::runtime_error("nats-server did not start on port " + std::to_string(port_));
}

void NatsServerProcess::stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

std::string random_master_key_hex() {
  std::random_device rd;
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (int i = 0; i < 64; ++i) out += kHex[rd() % 16];
  return out;
}

}  // namespace bp::testing
