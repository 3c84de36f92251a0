// The postgres sink alone, against the test Postgres: batches written once each, whether they are
// new (one COPY into the table) or partly delivered before (the staging path skips what is there).
#include <catch2/catch.hpp>

#include <latch>
#include <regex>
#include <thread>

#include "bp/json.h"
#include "bp/pg/connection.h"
#include "bp/testing/environment.h"
#include "postgres/postgres_sink.h"

using namespace bp::delivery_worker;

namespace {

// Writes a batch; on failure the sink's message is shown.
void write_ok(Sink& sink, const DeliveryBatch& b) {
  auto failed = sink.write(b);
  INFO((failed ? failed->message : std::string()));
  REQUIRE_FALSE(failed.has_value());
}

std::unique_ptr<Sink> sink_for(const bp::testing::ScratchDatabase& db, const std::string& table) {
  std::smatch m;
  std::string url = bp::testing::pg_admin_url();
  REQUIRE(std::regex_search(url, m, std::regex(R"(@([^:/]+):(\d+))")));
  auto config = bp::json::parse(R"({"host":")" + m[1].str() + R"(","port":)" + m[2].str() + R"(,"database":")" +
                                db.name() + R"(","user":"postgres","table":")" + table + R"(","sslmode":"disable"})");
  REQUIRE(config);
  auto sink = make_postgres_sink(*config, SinkEnvironment{});
  REQUIRE(sink);
  return std::move(sink).value();
}

DeliveryBatch batch_of(int from, int to) {
  DeliveryBatch b;
  b.id = "batch-" + std::to_string(from);
  for (int i = from; i < to; ++i) {
    Record r;
    r.id = "req:" + std::to_string(i);
    r.received_at = "2026-01-01T00:00:00.000Z";
    r.json = "{\"n\":" + std::to_string(i) + "}";
    b.add(std::move(r));
  }
  return b;
}

// Row count and sum of n: a record written twice or lost changes one of them.
std::pair<long, long> table_state(const bp::testing::ScratchDatabase& db, const std::string& table) {
  auto conn = bp::pg::Connection::connect(db.url());
  REQUIRE(conn);
  auto rows = conn->exec("SELECT count(*) AS c, coalesce(sum((data->>'n')::int), 0) AS s FROM " + table);
  REQUIRE(rows);
  return {static_cast<long>(rows->integer(0, "c")), static_cast<long>(rows->integer(0, "s"))};
}

long sum(int from, int to) {
  long s = 0;
  for (int i = from; i < to; ++i) s += i;
  return s;
}

}  // namespace

TEST_CASE("postgres sink: new batches, overlapping batches and new ones again, each record once", "[integration]") {
  bp::testing::ScratchDatabase db;
  auto sink = sink_for(db, "events");
  write_ok(*sink, batch_of(0, 100));
  CHECK(table_state(db, "events") == std::pair{100L, sum(0, 100)});
  // A batch delivered again in part (50..99 are there): no error, only the new half is added.
  write_ok(*sink, batch_of(50, 150));
  CHECK(table_state(db, "events") == std::pair{150L, sum(0, 150)});
  // The same batch again, whole.
  write_ok(*sink, batch_of(50, 150));
  CHECK(table_state(db, "events") == std::pair{150L, sum(0, 150)});
  // Many new batches after the redelivery (past the staging-only stretch): all written once.
  for (int i = 150; i < 150 + 20 * 10; i += 10) write_ok(*sink, batch_of(i, i + 10));
  CHECK(table_state(db, "events") == std::pair{350L, sum(0, 350)});
  // And an old one once more after that.
  write_ok(*sink, batch_of(0, 10));
  CHECK(table_state(db, "events") == std::pair{350L, sum(0, 350)});
}

TEST_CASE("postgres sink: a record Postgres refuses fails its batch as permanent, nothing written", "[integration]") {
  bp::testing::ScratchDatabase db;
  auto sink = sink_for(db, "events");
  auto b = batch_of(0, 5);
  b.records[2].json = R"({"text":"\u0000"})";  // valid JSON; jsonb refuses the NUL escape
  auto failed = sink->write(b);
  REQUIRE(failed.has_value());
  CHECK(failed->permanent);
  CHECK(table_state(db, "events") == std::pair{0L, 0L});
  write_ok(*sink, batch_of(0, 5));
  CHECK(table_state(db, "events") == std::pair{5L, sum(0, 5)});
}

// COPY's text format gives \, tab, newline and carriage return a meaning: every one of them, in
// an id or in the JSON, must reach the table as it was.
TEST_CASE("postgres sink: backslashes, tabs and line breaks arrive as they were sent", "[integration]") {
  bp::testing::ScratchDatabase db;
  auto sink = sink_for(db, "events");
  DeliveryBatch b;
  b.id = "escapes";
  const std::vector<std::string> ids = {"req:0", "a\\b\tc\nd\re:1", "\\\\N:2", "tail\\:3"};
  for (size_t i = 0; i < ids.size(); ++i) {
    Record r;
    r.id = ids[i];
    r.received_at = "2026-01-01T00:00:00.000Z";
    r.json = R"({"n":)" + std::to_string(i) + R"(,"s":"back\\slash tab\t nl\n cr\r quote\" \\N end\\"})";
    b.add(std::move(r));
  }
  write_ok(*sink, b);
  auto conn = bp::pg::Connection::connect(db.url());
  REQUIRE(conn);
  auto rows = conn->exec("SELECT bp_record_id, data->>'s' AS s FROM events ORDER BY (data->>'n')::int");
  REQUIRE(rows);
  REQUIRE(rows->size() == static_cast<int>(ids.size()));
  for (int i = 0; i < rows->size(); ++i) {
    CHECK(rows->text(i, "bp_record_id") == ids[static_cast<size_t>(i)]);
    CHECK(rows->text(i, "s") == "back\\slash tab\t nl\n cr\r quote\" \\N end\\");
  }
}

// A destination's connections start together (parallel writes), and on a new table each finds it
// missing: every one of them must write its first batch, none fail on the create of another.
TEST_CASE("postgres sink: sinks that start together on a new table all write their first batch", "[integration]") {
  bp::testing::ScratchDatabase db;
  constexpr int kSinks = 8;
  for (const std::string table : {"together_a", "together_b", "together_c"}) {
    std::vector<std::unique_ptr<Sink>> sinks;
    for (int i = 0; i < kSinks; ++i) sinks.push_back(sink_for(db, table));
    std::latch start(kSinks);
    std::vector<std::string> failures(kSinks);
    std::vector<std::thread> threads;
    for (int i = 0; i < kSinks; ++i) {
      threads.emplace_back([&, i] {
        start.arrive_and_wait();
        if (auto failed = sinks[i]->write(batch_of(i * 10, i * 10 + 10))) failures[i] = failed->message;
      });
    }
    for (auto& t : threads) t.join();
    for (int i = 0; i < kSinks; ++i) {
      INFO(table << ", sink " << i << ": " << failures[i]);
      CHECK(failures[i].empty());
    }
    CHECK(table_state(db, table) == std::pair{10L * kSinks, sum(0, 10 * kSinks)});
  }
}
