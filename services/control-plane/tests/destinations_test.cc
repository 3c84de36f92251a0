// Destinations: per-type validation, secrets encrypted and redacted, consumers follow destinations
// (deep ones of deleted destinations drained first).
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <set>
#include <thread>

#include "bp/control_plane/consumer_drain.h"
#include "bp/control_plane/topology.h"
#include "bp/json.h"
#include "bp/nats/puller.h"
#include "bp/testing/environment.h"
#include "fixture.h"

using namespace bp::control_plane::testing;
using bp::control_plane::consumer_name;
using bp::control_plane::kIngestStream;

namespace {

constexpr const char* kPassword = "s3cr3t-Pa55word-that-must-never-leak";

v1::CreateDestinationRequest postgres_destination(const std::string& pipe_id) {
  v1::CreateDestinationRequest req;
  req.set_pipe_id(pipe_id);
  req.set_type("postgres");
  req.set_name("warehouse");
  req.set_config_json(std::string(R"({"host":"db.internal","database":"events","user":"loader","password":")") +
                      kPassword + R"(","table":"signups"})");
  return req;
}

std::string revealed_config(Fixture& f, const std::string& destination_id) {
  v1::ListDeliveryDestinationsResponse all;
  REQUIRE(f.stub().ListDeliveryDestinations(f.internal().get(), {}, &all).ok());
  for (const auto& d : all.destinations()) {
    if (d.destination().id() == destination_id) return d.destination().config_json();
  }
  FAIL("destination not in the workers' list");
  return "";
}

bool consumer_exists(Fixture& f, const std::string& destination_id) {
  auto r = f.nats().consumer_exists(kIngestStream, consumer_name(destination_id));
  REQUIRE(r.ok());
  return *r;
}

int64_t cleanup_rows(Fixture& f) {
  auto rows = f.db().exec("SELECT count(*) AS n FROM consumer_cleanup");
  REQUIRE(rows.ok());
  return rows->integer(0, "n");
}

v1::Destination create_destination(Fixture& f, const Workspace& ws, const std::string& pipe_id, const std::string& name) {
  auto req = postgres_destination(pipe_id);
  req.set_name(name);
  v1::Destination d;
  auto status = f.stub().CreateDestination(f.as(ws.api_key).get(), req, &d);
  INFO(status.error_message());
  REQUIRE(status.ok());
  return d;
}

// A pipe with the destinations "kept" and "doomed", and another pipe with one of its own.
struct TwoPipes {
  Workspace ws;
  v1::Pipe pipe, other;
  v1::Destination kept, doomed, on_other;
};

TwoPipes two_pipes(Fixture& f) {
  TwoPipes t;
  t.ws = f.new_workspace();
  t.pipe = f.create_pipe(t.ws, "events");
  t.other = f.create_pipe(t.ws, "other");
  t.kept = create_destination(f, t.ws, t.pipe.id(), "kept");
  t.doomed = create_destination(f, t.ws, t.pipe.id(), "doomed");
  t.on_other = create_destination(f, t.ws, t.other.id(), "on-other");
  return t;
}

void delete_destination(Fixture& f, const Workspace& ws, const std::string& pipe_id, const std::string& id) {
  v1::DeleteDestinationRequest del;
  del.set_pipe_id(pipe_id);
  del.set_destination_id(id);
  v1::Empty empty;
  auto status = f.stub().DeleteDestination(f.as(ws.api_key).get(), del, &empty);
  INFO(status.error_message());
  REQUIRE(status.ok());
}

void delete_pipe(Fixture& f, const Workspace& ws, const std::string& pipe_id) {
  v1::DeletePipeRequest del;
  del.set_pipe_id(pipe_id);
  v1::Empty empty;
  auto status = f.stub().DeletePipe(f.as(ws.api_key).get(), del, &empty);
  INFO(status.error_message());
  REQUIRE(status.ok());
}

// Starts the test's nats-server again, waits for the fixture to reconnect, then runs reconcile
// passes until no cleanup row is left (or 50 passes have run).
void restart_and_reconcile(Fixture& f, bp::testing::NatsServerProcess& server) {
  server.start();
  for (int i = 0; i < 100 && !f.nats().connected(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  REQUIRE(f.nats().connected());
  for (int i = 0; i < 50 && cleanup_rows(f) > 0; ++i) {
    if (!f.service().reconcile_consumers()) std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

}  // namespace

TEST_CASE("destinations: created with defaults, secrets redacted, consumer created", "[integration]") {
  Fixture f;
  auto ws = f.new_workspace();
  auto pipe = f.create_pipe(ws, "events");
  v1::Destination d;
  auto status = f.stub().CreateDestination(f.as(ws.api_key).get(), postgres_destination(pipe.id()), &d);
  INFO(status.error_message());
  REQUIRE(status.ok());
  CHECK(d.type() == "postgres");
  CHECK(d.destination_status() == "active");
  auto config = bp::json::parse(d.config_json());
  REQUIRE(config.ok());
  CHECK(bp::json::get_string(*config, "password") == "[redacted]");
  CHECK(bp::json::get_int(*config, "port") == 5432);
  CHECK(bp::json::get_string(*config, "mode") == "jsonb");
  CHECK(d.config_json().find(kPassword) == std::string::npos);
  CHECK(consumer_exists(f, d.id()));

  // At rest: the row holds no plaintext secret anywhere.
  auto row = f.db().exec("SELECT config::text AS c, encode(secrets_ciphertext, 'escape') AS s, secrets_key_id "
                         "FROM destination WHERE id = $1",
                         {d.id()});
  REQUIRE(row.ok());
  REQUIRE(row->size() == 1);
  CHECK(row->text(0, "c").find(kPassword) == std::string::npos);
  CHECK(row->text(0, "s").find(kPassword) == std::string::npos);
  CHECK(row->text(0, "secrets_key_id").size() == 16);

  // Workers get the secret in clear.
  CHECK(revealed_config(f, d.id()).find(kPassword) != std::string::npos);

  // The pipe detail lists it, redacted.
  v1::GetPipeRequest get;
  get.set_pipe_id(pipe.id());
  v1::Pipe read;
  REQUIRE(f.stub().GetPipe(f.as(ws.api_key).get(), get, &read).ok());
  REQUIRE(read.destinations_size() == 1);
  CHECK(read.destinations(0).config_json().find(kPassword) == std::string::npos);
}

TEST_CASE("destinations: PATCH merges config, an empty secret keeps the stored one", "[integration]") {
  Fixture f;
  auto ws = f.new_workspace();
  auto pipe = f.create_pipe(ws, "events");
  v1::Destination d;
  REQUIRE(f.stub().CreateDestination(f.as(ws.api_key).get(), postgres_destination(pipe.id()), &d).ok());

  v1::UpdateDestinationRequest upd;
  upd.set_pipe_id(pipe.id());
  upd.set_destination_id(d.id());
  upd.set_name("warehouse-2");
  upd.set_config_json(R"({"password":"","table":"signups_v2"})");
  v1::Destination updated;
  auto status = f.stub().UpdateDestination(f.as(ws.api_key).get(), upd, &updated);
  INFO(status.error_message());
  REQUIRE(status.ok());
  CHECK(updated.name() == "warehouse-2");
  auto revealed = bp::json::parse(revealed_config(f, d.id()));
  CHECK(bp::json::get_string(*revealed, "password") == kPassword);
  CHECK(bp::json::get_string(*revealed, "table") == "signups_v2");
  CHECK(bp::json::get_string(*revealed, "host") == "db.internal");

  upd.set_config_json(R"({"password":"rotated"})");
  REQUIRE(f.stub().UpdateDestination(f.as(ws.api_key).get(), upd, &updated).ok());
  CHECK(bp::json::get_string(*bp::json::parse(revealed_config(f, d.id())), "password") == "rotated");

  upd.set_config_json(R"({"port":70000})");
  status = f.stub().UpdateDestination(f.as(ws.api_key).get(), upd, &updated);
  REQUIRE(status.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  CHECK(field_errors(status).count("config.port") == 1);
}

TEST_CASE("destinations: config checked per type", "[integration]") {
  Fixture f;
  auto ws = f.new_workspace();
  auto pipe = f.create_pipe(ws, "events");
  v1::Destination d;
  auto create = [&](const std::string& type, const std::string& config) {
    v1::CreateDestinationRequest req;
    req.set_pipe_id(pipe.id());
    req.set_type(type);
    req.set_name("d-" + type + std::to_string(config.size()));
    req.set_config_json(config);
    return f.stub().CreateDestination(f.as(ws.api_key).get(), req, &d);
  };
  auto s = create("postgres", R"({"database":"x","user":"u","table":"bad table","extra":1})");
  REQUIRE(s.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  auto e = field_errors(s);
  CHECK(e.count("config.host") == 1);
  CHECK(e.count("config.extra") == 1);

  s = create("kafka", "{}");
  REQUIRE(s.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  CHECK(field_errors(s).count("type") == 1);

  s = create("webhook", R"({"url":"ftp://example.com/hook"})");
  REQUIRE(s.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  CHECK(field_errors(s).count("config.url") == 1);

  s = create("webhook", R"({"url":"https://example.com/hook","headers":{"Webhook-Id":"x"}})");
  REQUIRE(s.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  CHECK(field_errors(s).count("config.headers.Webhook-Id") == 1);

  s = create("file", R"({"path":"../../etc"})");
  REQUIRE(s.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  CHECK(field_errors(s).count("config.path") == 1);

  s = create("file", "not json");
  REQUIRE(s.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  CHECK(field_errors(s).count("config") == 1);

  s = create("webhook", R"({"url":"https://example.com/hook","signing_secret":"whsec_abc"})");
  INFO(s.error_message());
  CHECK(s.ok());
  s = create("file", R"({"path":"exports/signups","compression":"gzip"})");
  CHECK(s.ok());
  s = create("s3", R"({"endpoint":"https://s3.example.com","bucket":"events","access_key_id":"AK","secret_access_key":"SK"})");
  CHECK(s.ok());
}

TEST_CASE("destinations: status, delete, and consumers removed with the destination or the pipe",
          "[integration]") {
  Fixture f;
  auto ws = f.new_workspace();
  auto pipe = f.create_pipe(ws, "events");
  v1::Destination d1, d2;
  REQUIRE(f.stub().CreateDestination(f.as(ws.api_key).get(), postgres_destination(pipe.id()), &d1).ok());
  auto second = postgres_destination(pipe.id());
  second.set_name("second");
  second.set_destination_status("blocked");
  REQUIRE(f.stub().CreateDestination(f.as(ws.api_key).get(), second, &d2).ok());
  CHECK(d2.destination_status() == "blocked");
  CHECK(consumer_exists(f, d2.id()));  // a blocked destination keeps its consumer: records wait

  v1::SetDestinationStatusRequest st;
  st.set_pipe_id(pipe.id());
  st.set_destination_id(d1.id());
  st.set_destination_status("paused");
  v1::Destination out;
  CHECK(f.stub().SetDestinationStatus(f.as(ws.api_key).get(), st, &out).error_code() ==
        grpc::StatusCode::INVALID_ARGUMENT);
  st.set_destination_status("blocked");
  REQUIRE(f.stub().SetDestinationStatus(f.as(ws.api_key).get(), st, &out).ok());
  CHECK(out.destination_status() == "blocked");

  v1::DeleteDestinationRequest del;
  del.set_pipe_id(pipe.id());
  del.set_destination_id(d1.id());
  v1::Empty empty;
  REQUIRE(f.stub().DeleteDestination(f.as(ws.api_key).get(), del, &empty).ok());
  CHECK_FALSE(consumer_exists(f, d1.id()));
  CHECK(f.stub().DeleteDestination(f.as(ws.api_key).get(), del, &empty).error_code() ==
        grpc::StatusCode::NOT_FOUND);

  v1::DeletePipeRequest delp;
  delp.set_pipe_id(pipe.id());
  REQUIRE(f.stub().DeletePipe(f.as(ws.api_key).get(), delp, &empty).ok());
  CHECK_FALSE(consumer_exists(f, d2.id()));
}

TEST_CASE("destinations: deleting answers while nats-server cannot delete the consumer, and the reconcile does it later",
          "[integration]") {
  bp::testing::NatsServerProcess server;
  bp::control_plane::TopologyOptions options;
  options.consumer_delete_wait = std::chrono::milliseconds(300);
  Fixture f(server.url(), options);
  auto [ws, pipe, other, kept, doomed, on_other] = two_pipes(f);

  server.stop();  // as good as a server busy deleting a consumer with millions of messages
  delete_destination(f, ws, pipe.id(), doomed.id());
  delete_pipe(f, ws, other.id());

  // Gone for the user at once; a second deletion finds nothing.
  v1::DeleteDestinationRequest del;
  del.set_pipe_id(pipe.id());
  del.set_destination_id(doomed.id());
  v1::Empty empty;
  v1::GetPipeRequest get;
  get.set_pipe_id(pipe.id());
  v1::Pipe left;
  REQUIRE(f.stub().GetPipe(f.as(ws.api_key).get(), get, &left).ok());
  REQUIRE(left.destinations_size() == 1);
  CHECK(left.destinations(0).id() == kept.id());
  CHECK(f.stub().DeleteDestination(f.as(ws.api_key).get(), del, &empty).error_code() == grpc::StatusCode::NOT_FOUND);
  get.set_pipe_id(other.id());
  CHECK(f.stub().GetPipe(f.as(ws.api_key).get(), get, &left).error_code() == grpc::StatusCode::NOT_FOUND);
  CHECK(cleanup_rows(f) == 2);  // both consumers still to delete

  restart_and_reconcile(f, server);
  CHECK(cleanup_rows(f) == 0);
  CHECK_FALSE(consumer_exists(f, doomed.id()));
  CHECK_FALSE(consumer_exists(f, on_other.id()));
  CHECK(consumer_exists(f, kept.id()));
}

TEST_CASE("destinations: the reconcile deletes consumers left by deletions and makes missing ones", "[integration]") {
  Fixture f;
  auto ws = f.new_workspace();
  auto pipe = f.create_pipe(ws, "events");
  auto lost = create_destination(f, ws, pipe.id(), "lost");
  auto left_behind = create_destination(f, ws, pipe.id(), "left-behind");
  auto untouched = create_destination(f, ws, pipe.id(), "untouched");

  // What a deletion leaves when nats-server never got its request: the row gone, the consumer
  // there, the cleanup row. And a destination whose consumer JetStream lost.
  REQUIRE(f.db()
              .exec("WITH gone AS (DELETE FROM destination WHERE id = $1 RETURNING id) "
                    "INSERT INTO consumer_cleanup (destination_id) SELECT id FROM gone",
                    {left_behind.id()})
              .ok());
  REQUIRE(f.nats().delete_consumer(kIngestStream, consumer_name(lost.id())).ok());
  REQUIRE(consumer_exists(f, left_behind.id()));

  auto report = f.service().reconcile_consumers();
  INFO((report ? "" : report.error().message));
  REQUIRE(report.ok());
  CHECK(report->created == 1);
  CHECK(report->removed == 1);
  CHECK(consumer_exists(f, lost.id()));
  CHECK_FALSE(consumer_exists(f, left_behind.id()));
  CHECK(consumer_exists(f, untouched.id()));
  CHECK(cleanup_rows(f) == 0);

  auto again = f.service().reconcile_consumers();
  REQUIRE(again.ok());
  CHECK(again->created == 0);
  CHECK(again->removed == 0);
}

TEST_CASE("destinations: a create that nats-server does not answer fails and leaves no consumer behind",
          "[integration]") {
  bp::testing::NatsServerProcess server;
  Fixture f(server.url(), {});
  auto ws = f.new_workspace();
  auto pipe = f.create_pipe(ws, "events");

  server.stop();
  v1::Destination d;
  auto status = f.stub().CreateDestination(f.as(ws.api_key).get(), postgres_destination(pipe.id()), &d);
  CHECK(status.error_code() == grpc::StatusCode::UNAVAILABLE);
  v1::GetPipeRequest get;
  get.set_pipe_id(pipe.id());
  v1::Pipe read;
  REQUIRE(f.stub().GetPipe(f.as(ws.api_key).get(), get, &read).ok());
  CHECK(read.destinations_size() == 0);
  CHECK(cleanup_rows(f) == 1);  // its consumer may yet be made by a request answered late

  restart_and_reconcile(f, server);
  CHECK(cleanup_rows(f) == 0);
  auto consumers = f.nats().consumer_names(kIngestStream);
  REQUIRE(consumers.ok());
  CHECK(consumers->empty());
}

namespace {

// Messages BP_INGEST stores: under interest retention, those some consumer still needs.
uint64_t stream_messages(Fixture& f) {
  jsStreamInfo* info = nullptr;
  REQUIRE(js_GetStreamInfo(&info, f.nats().jetstream(), kIngestStream, nullptr, nullptr) == NATS_OK);
  uint64_t n = info->State.Msgs;
  jsStreamInfo_Destroy(info);
  return n;
}

int64_t backlog(Fixture& f, const std::string& destination_id) {
  auto b = f.nats().consumer_backlog(kIngestStream, consumer_name(destination_id));
  REQUIRE(b.ok());
  return *b;
}

// Stores messages "1" to "n" on the pipe's subject, as the gateway would.
void store(Fixture& f, const std::string& pipe_id, int n) {
  for (int i = 1; i <= n; ++i) {
    REQUIRE(f.nats().publish_stored(bp::nats::ingest_subject(pipe_id), std::to_string(i), {}, "").ok());
  }
}

// A pipe whose destination "doomed" was deleted while `messages` records waited for it.
struct DeletedWithBacklog {
  Workspace ws;
  v1::Pipe pipe;
  v1::Destination doomed;
};

DeletedWithBacklog deleted_with_backlog(Fixture& f, int messages) {
  DeletedWithBacklog d;
  d.ws = f.new_workspace();
  d.pipe = f.create_pipe(d.ws, "events");
  d.doomed = create_destination(f, d.ws, d.pipe.id(), "doomed");
  store(f, d.pipe.id(), messages);
  delete_destination(f, d.ws, d.pipe.id(), d.doomed.id());
  return d;
}

}  // namespace

TEST_CASE(
    "destinations: a deleted destination's deep consumer is drained, then deleted, and the pipe's others lose nothing",
    "[integration]") {
  bp::testing::NatsServerProcess server;  // the stream's message count is this test's alone
  bp::control_plane::TopologyOptions options;
  options.consumer_drain_above = 100;
  options.consumer_drain_rate = 10000;
  Fixture f(server.url(), options);
  auto [ws, pipe, other, kept, doomed, alone] = two_pipes(f);
  store(f, pipe.id(), 3000);
  store(f, other.id(), 2000);
  REQUIRE(stream_messages(f) == 5000);

  // Gone for the user at once; the consumers are too deep to delete at once and stay for the drain.
  delete_destination(f, ws, pipe.id(), doomed.id());
  delete_pipe(f, ws, other.id());
  CHECK(cleanup_rows(f) == 2);
  CHECK(consumer_exists(f, doomed.id()));
  CHECK(consumer_exists(f, alone.id()));
  // The reconcile leaves them to the drain too.
  auto reconciled = f.service().reconcile_consumers();
  REQUIRE(reconciled.ok());
  CHECK(reconciled->draining == 2);
  CHECK(reconciled->removed == 0);
  CHECK(consumer_exists(f, doomed.id()));

  bp::control_plane::ConsumerDrain drain(f.database_url(), f.service_shared());
  const auto start = std::chrono::steady_clock::now();
  auto report = drain.run_once();
  const auto took = std::chrono::steady_clock::now() - start;
  INFO((report ? "" : report.error().message));
  REQUIRE(report.ok());
  CHECK(report->drains);
  CHECK(report->acked == 5000);
  CHECK(report->deleted == 2);
  CHECK(report->left == 0);
  CHECK(took >= std::chrono::milliseconds(450));  // 5,000 messages at 10,000 a second, not at once
  CHECK_FALSE(consumer_exists(f, doomed.id()));
  CHECK_FALSE(consumer_exists(f, alone.id()));
  CHECK(cleanup_rows(f) == 0);

  // The stream keeps only what the pipe's other destination still needs, and that one has it all.
  CHECK(stream_messages(f) == 3000);
  CHECK(backlog(f, kept.id()) == 3000);
  std::unique_ptr<bp::nats::Puller> puller;
  REQUIRE(bp::nats::Puller::open(f.nats().connection(), kIngestStream, consumer_name(kept.id()), puller) == NATS_OK);
  std::set<std::string> seen;
  std::vector<bp::nats::MsgPtr> batch;
  while (puller->fetch(500, std::chrono::seconds(1), batch) == NATS_OK) {
    for (auto& m : batch) {
      seen.emplace(natsMsg_GetData(m.get()), natsMsg_GetDataLength(m.get()));
      REQUIRE(bp::nats::Puller::ack(f.nats().connection(), m.get()) == NATS_OK);
    }
    batch.clear();
  }
  CHECK(seen.size() == 3000);
  CHECK((seen.count("1") == 1 && seen.count("3000") == 1));
  for (int i = 0; i < 50 && stream_messages(f) > 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  CHECK(stream_messages(f) == 0);
}

TEST_CASE("destinations: a drain pauses after each slow answer, and a stop ends a pause", "[integration]") {
  bp::testing::NatsServerProcess server;
  bp::control_plane::TopologyOptions options;
  options.consumer_drain_above = 100;
  options.consumer_drain_slow_answer = std::chrono::milliseconds(0);  // every full batch is answered slowly
  Fixture f(server.url(), options);
  auto doomed = deleted_with_backlog(f, 250).doomed;
  REQUIRE(consumer_exists(f, doomed.id()));
  const auto topology = f.service().topology();

  // 100 messages, a 1-s pause, 100 more, then a 2-s pause that the stop ends halfway.
  std::atomic<bool> stop{false};
  std::thread stopper([&stop] {
    std::this_thread::sleep_for(std::chrono::milliseconds(1800));
    stop = true;
  });
  const auto start = std::chrono::steady_clock::now();
  auto paused = topology->drain_consumer(doomed.id(), stop);
  const auto took = std::chrono::steady_clock::now() - start;
  stopper.join();
  INFO((paused ? "" : paused.error().message));
  REQUIRE(paused.ok());
  CHECK(paused->acked == 200);
  CHECK(paused->slow_answers == 2);
  CHECK(paused->paused == std::chrono::milliseconds(3000));  // the 1-s and the 2-s pause, as decided
  CHECK(took < std::chrono::milliseconds(2800));             // not the 3 s of both
  CHECK(backlog(f, doomed.id()) == 50);

  // The last 50 are a short batch, whose pull may have waited for messages to come: not judged.
  stop = false;
  auto rest = topology->drain_consumer(doomed.id(), stop);
  REQUIRE(rest.ok());
  CHECK(rest->acked == 50);
  CHECK(rest->slow_answers == 0);
  CHECK(rest->paused == std::chrono::milliseconds(0));
  CHECK(backlog(f, doomed.id()) == 0);
}

TEST_CASE("destinations: one control-plane drains at a time, and a drain stopped halfway resumes", "[integration]") {
  bp::testing::NatsServerProcess server;
  bp::control_plane::TopologyOptions options;
  options.consumer_drain_above = 100;
  options.consumer_drain_rate = 2000;
  Fixture f(server.url(), options);
  auto doomed = deleted_with_backlog(f, 3000).doomed;
  REQUIRE(cleanup_rows(f) == 1);

  auto first = std::make_unique<bp::control_plane::ConsumerDrain>(f.database_url(), f.service_shared());
  bp::control_plane::ConsumerDrain second(f.database_url(), f.service_shared());
  bp::Result<bp::control_plane::DrainReport> halfway = bp::Error::internal("not run");
  std::thread running([&] { halfway = first->run_once(); });
  for (int i = 0; i < 100 && backlog(f, doomed.id()) == 3000; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  // The first holds the lock while it drains: the second leaves the consumer alone.
  auto idle = second.run_once();
  REQUIRE(idle.ok());
  CHECK_FALSE(idle->drains);
  CHECK(idle->acked == 0);
  CHECK(idle->left == 1);
  first->stop();  // as the control-plane does on SIGTERM
  running.join();
  REQUIRE(halfway.ok());
  CHECK(halfway->drains);
  CHECK(halfway->deleted == 0);
  CHECK(halfway->acked > 0);
  CHECK(halfway->acked < 3000);
  CHECK(consumer_exists(f, doomed.id()));
  CHECK(cleanup_rows(f) == 1);

  // Its process gone, its lock goes with its connection; the other takes over where it stopped.
  // Postgres lets go of the lock once the closed connection's backend has ended, which may be
  // after the first pass that asks for it: a control-plane would try again a second later.
  first.reset();
  auto rest = second.run_once();
  for (int i = 0; i < 50 && rest && !rest->drains; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    rest = second.run_once();
  }
  INFO((rest ? "" : rest.error().message));
  REQUIRE(rest.ok());
  CHECK(rest->drains);
  CHECK(rest->deleted == 1);
  CHECK(halfway->acked + rest->acked == 3000);  // each message acked once
  CHECK_FALSE(consumer_exists(f, doomed.id()));
  CHECK(cleanup_rows(f) == 0);
  CHECK(stream_messages(f) == 0);
}
