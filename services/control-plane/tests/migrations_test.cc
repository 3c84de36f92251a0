// Migrations: applied once, idempotent across restarts, safe when replicas start together.
#include <catch2/catch.hpp>

#include <thread>
#include <vector>

#include "bp/control_plane/migrations.h"
#include "bp/testing/environment.h"

using namespace bp;

TEST_CASE("migrations apply once and are idempotent across restarts", "[integration]") {
  testing::ScratchDatabase db;
  auto conn = pg::Connection::connect(db.url());
  REQUIRE(conn.ok());
  auto first = control_plane::migrate(*conn);
  REQUIRE(first.ok());
  CHECK(*first == static_cast<int>(control_plane::migrations().size()));
  auto again = control_plane::migrate(*conn);
  REQUIRE(again.ok());
  CHECK(*again == 0);
  auto rows = conn->exec("SELECT count(*) AS n FROM schema_migration");
  REQUIRE(rows.ok());
  CHECK(rows->integer(0, "n") == static_cast<int64_t>(control_plane::migrations().size()));
  // The tables the rest of the system relies on exist.
  for (const char* table : {"workspace", "api_key", "pipe", "pipe_limit", "destination", "allowed_origin",
                            "delivery_run", "usage_counter", "consumer_cleanup"}) {
    auto t = conn->exec("SELECT to_regclass($1) IS NOT NULL AS present", {std::string(table)});
    REQUIRE(t.ok());
    CHECK(t->boolean(0, "present"));
  }
}

TEST_CASE("replicas migrating at the same time apply each migration exactly once", "[integration]") {
  testing::ScratchDatabase db;
  std::vector<int> applied(4, -1);
  std::vector<std::thread> replicas;
  for (int i = 0; i < 4; ++i) {
    replicas.emplace_back([&, i] {
      auto conn = pg::Connection::connect(db.url());
      if (!conn) return;
      auto r = control_plane::migrate(*conn);
      applied[i] = r ? *r : -2;
    });
  }
  for (auto& t : replicas) t.join();
  int total = 0;
  for (int a : applied) {
    REQUIRE(a >= 0);
    total += a;
  }
  CHECK(total == static_cast<int>(control_plane::migrations().size()));
}
