// Settings: defaults, environment, flags, and loud errors.
#include <catch2/catch.hpp>

#include <cstdlib>

#include "bp/config.h"

namespace {
const std::vector<bp::config::Setting> kSettings = {
    {"BP_TEST_LISTEN", "127.0.0.1:1", "where to listen"},
    {"BP_TEST_POOL", "8", "pool size"},
    {"BP_TEST_REQUIRED", "", "must be set", true},
};
}

TEST_CASE("config: defaults, environment and flags, flags winning") {
  setenv("BP_TEST_REQUIRED", "x", 1);
  setenv("BP_TEST_POOL", "4", 1);
  const char* argv[] = {"prog", "--test-listen=0.0.0.0:9", "bootstrap"};
  auto src = bp::config::Source::load(kSettings, 3, argv);
  REQUIRE(src.ok());
  CHECK(src->get("BP_TEST_LISTEN") == "0.0.0.0:9");
  CHECK(src->get_int("BP_TEST_POOL", 1, 64).value() == 4);
  CHECK(src->positional() == std::vector<std::string>{"bootstrap"});
  unsetenv("BP_TEST_POOL");
}

TEST_CASE("config: unknown flags, missing required values and bad integers are errors") {
  setenv("BP_TEST_REQUIRED", "x", 1);
  const char* bad_flag[] = {"prog", "--nope=1"};
  auto r1 = bp::config::Source::load(kSettings, 2, bad_flag);
  REQUIRE_FALSE(r1.ok());
  CHECK(r1.error().message.find("--nope") != std::string::npos);

  unsetenv("BP_TEST_REQUIRED");
  const char* none[] = {"prog"};
  auto r2 = bp::config::Source::load(kSettings, 1, none);
  REQUIRE_FALSE(r2.ok());
  CHECK(r2.error().message.find("BP_TEST_REQUIRED") != std::string::npos);

  setenv("BP_TEST_REQUIRED", "x", 1);
  const char* bad_int[] = {"prog", "--test-pool=eight"};
  auto r3 = bp::config::Source::load(kSettings, 2, bad_int);
  REQUIRE(r3.ok());
  CHECK_FALSE(r3->get_int("BP_TEST_POOL", 1, 64).ok());
  const char* big[] = {"prog", "--test-pool=65"};
  CHECK_FALSE(bp::config::Source::load(kSettings, 2, big)->get_int("BP_TEST_POOL", 1, 64).ok());
}
