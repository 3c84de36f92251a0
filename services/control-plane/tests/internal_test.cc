// What the gateway and workers call: resolution, the destination list, runs, usage, change events.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

#include "bp/crypto.h"
#include "bp/uuid.h"
#include "fixture.h"

using namespace bp::control_plane::testing;

TEST_CASE("resolve: a key hash to its workspace, a pipe id to its ingest settings", "[integration]") {
  Fixture f;
  auto ws = f.new_workspace();
  auto pipe = f.create_pipe(ws, "ingest");
  v1::ResolveApiKeyRequest rk;
  rk.set_key_sha256(bp::crypto::sha256_hex(ws.api_key));
  v1::ResolveApiKeyResponse key;
  REQUIRE(f.stub().ResolveApiKey(f.internal().get(), rk, &key).ok());
  CHECK(key.workspace_id() == ws.id);
  rk.set_key_sha256(bp::crypto::sha256_hex("bp_v1_unknown"));
  CHECK(f.stub().ResolveApiKey(f.internal().get(), rk, &key).error_code() == grpc::StatusCode::NOT_FOUND);

  v1::ResolvePipeRequest rp;
  rp.set_pipe_id(pipe.id());
  v1::Pipe resolved;
  REQUIRE(f.stub().ResolvePipe(f.internal().get(), rp, &resolved).ok());
  CHECK(resolved.workspace_id() == ws.id);
  CHECK(resolved.require_api_key());
  rp.set_pipe_id(bp::uuid::v4());
  CHECK(f.stub().ResolvePipe(f.internal().get(), rp, &resolved).error_code() == grpc::StatusCode::NOT_FOUND);
}

TEST_CASE("runs: reported by workers, listed newest first per pipe", "[integration]") {
  Fixture f;
  auto ws = f.new_workspace();
  auto pipe = f.create_pipe(ws, "runs");
  std::string destination = bp::uuid::v4();
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    v1::ReportDeliveryRunRequest req;
    auto* run = req.mutable_run();
    run->set_id(bp::uuid::v4());
    run->set_pipe_id(pipe.id());
    run->set_destination_id(destination);
    run->set_status(i == 2 ? "failed" : "success");
    run->set_records(10 + i);
    run->set_bytes(100);
    run->set_attempts(1);
    run->set_started_at("2026-01-01T00:00:0" + std::to_string(i) + ".000Z");
    run->set_finished_at("2026-01-01T00:00:0" + std::to_string(i) + ".500Z");
    if (i == 2) run->set_error("connection refused");
    v1::DeliveryRun stored;
    REQUIRE(f.stub().ReportDeliveryRun(f.internal().get(), req, &stored).ok());
    ids.push_back(run->id());
  }
  v1::ListRunsRequest lr;
  lr.set_pipe_id(pipe.id());
  v1::ListRunsResponse runs;
  REQUIRE(f.stub().ListRuns(f.as(ws.api_key).get(), lr, &runs).ok());
  REQUIRE(runs.runs_size() == 3);
  CHECK(runs.runs(0).id() == ids[2]);
  CHECK(runs.runs(0).status() == "failed");
  CHECK(runs.runs(0).error() == "connection refused");
  CHECK(runs.runs(0).started_at() == "2026-01-01T00:00:02.000Z");

  v1::GetRunRequest gr;
  gr.set_pipe_id(pipe.id());
  gr.set_run_id(ids[0]);
  v1::DeliveryRun one;
  REQUIRE(f.stub().GetRun(f.as(ws.api_key).get(), gr, &one).ok());
  CHECK(one.records() == 10);

  v1::ReportDeliveryRunRequest bad;
  bad.mutable_run()->set_id("x");
  CHECK(f.stub().ReportDeliveryRun(f.internal().get(), bad, &one).error_code() ==
        grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_CASE("usage: reported counters show in the pipe's usage snapshot", "[integration]") {
  Fixture f;
  auto ws = f.new_workspace();
  auto pipe = f.create_pipe(ws, "usage");
  for (int i = 0; i < 2; ++i) {
    v1::ReportUsageRequest req;
    req.set_pipe_id(pipe.id());
    req.mutable_delta()->set_requests_accepted(1);
    req.mutable_delta()->set_records_accepted(5);
    req.mutable_delta()->set_bytes_accepted(500);
    req.mutable_delta()->set_records_delivered(4);
    req.mutable_delta()->set_records_failed(1);
    v1::Empty e;
    REQUIRE(f.stub().ReportUsage(f.internal().get(), req, &e).ok());
  }
  v1::ListPipesResponse list;
  REQUIRE(f.stub().ListPipes(f.as(ws.api_key).get(), {}, &list).ok());
  REQUIRE(list.pipes_size() == 1);
  const auto& usage = list.pipes(0).usage();
  CHECK(usage.total().records_accepted() == 10);
  CHECK(usage.total().records_delivered() == 8);
  CHECK(usage.last_24h().records_failed() == 2);
  CHECK(usage.last_24h().bytes_accepted() == 1000);
}

// Decision 0015: a run or usage report commits without waiting for the WAL flush, and only that
// statement does; the pooled session goes back to the database's setting for whatever it runs
// next (an API key, a pipe...). The test cluster runs with synchronous_commit=off, so this
// database is set to `on`, and a trigger notes the setting each write ran under.
TEST_CASE("runs and usage commit without waiting for the disk, and only they do", "[integration]") {
  Fixture f;
  REQUIRE(f.db().exec_script(
      "DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET synchronous_commit = on', current_database()); END $$;"
      "CREATE TABLE commit_seen (n serial PRIMARY KEY, written text NOT NULL, setting text NOT NULL);"
      "CREATE FUNCTION note_commit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
      "  INSERT INTO commit_seen (written, setting) VALUES (TG_TABLE_NAME, current_setting('synchronous_commit'));"
      "  RETURN NULL; END $$;"
      "CREATE TRIGGER note_commit AFTER INSERT ON pipe FOR EACH ROW EXECUTE FUNCTION note_commit();"
      "CREATE TRIGGER note_commit AFTER INSERT OR UPDATE ON delivery_run FOR EACH ROW EXECUTE FUNCTION note_commit();"
      "CREATE TRIGGER note_commit AFTER INSERT OR UPDATE ON usage_counter FOR EACH ROW EXECUTE FUNCTION note_commit();"));

  // The pool hands out its most recently returned session: every call below after the first pipe
  // runs on the session the report before it used.
  auto ws = f.new_workspace();
  auto pipe = f.create_pipe(ws, "first");
  v1::ReportDeliveryRunRequest run;
  run.mutable_run()->set_id(bp::uuid::v4());
  run.mutable_run()->set_pipe_id(pipe.id());
  run.mutable_run()->set_destination_id(bp::uuid::v4());
  run.mutable_run()->set_status("success");
  run.mutable_run()->set_records(1);
  run.mutable_run()->set_started_at("2026-01-01T00:00:00.000Z");
  v1::DeliveryRun stored;
  REQUIRE(f.stub().ReportDeliveryRun(f.internal().get(), run, &stored).ok());
  f.create_pipe(ws, "after the run");
  v1::ReportUsageRequest usage;
  usage.set_pipe_id(pipe.id());
  usage.mutable_delta()->set_records_accepted(1);
  v1::Empty empty;
  REQUIRE(f.stub().ReportUsage(f.internal().get(), usage, &empty).ok());
  f.create_pipe(ws, "after the usage");

  auto seen = f.db().exec("SELECT string_agg(written || ' ' || setting, ', ' ORDER BY n) AS seen FROM commit_seen");
  REQUIRE(seen);
  CHECK(seen->text(0, "seen") == "pipe on, delivery_run off, pipe on, usage_counter off, pipe on");
}

TEST_CASE("change events are published on bp.ctl.changed naming what changed", "[integration]") {
  Fixture f;
  std::mutex mutex;
  std::vector<std::string> events;
  natsSubscription* sub = nullptr;
  auto on_msg = [](natsConnection*, natsSubscription*, natsMsg* msg, void* closure) {
    auto* state = static_cast<std::pair<std::mutex*, std::vector<std::string>*>*>(closure);
    std::lock_guard lock(*state->first);
    state->second->emplace_back(natsMsg_GetData(msg), natsMsg_GetDataLength(msg));
    natsMsg_Destroy(msg);
  };
  std::pair<std::mutex*, std::vector<std::string>*> state{&mutex, &events};
  REQUIRE(natsConnection_Subscribe(&sub, f.nats().connection(), "bp.ctl.changed", on_msg, &state) == NATS_OK);
  REQUIRE(natsConnection_Flush(f.nats().connection()) == NATS_OK);

  auto ws = f.new_workspace();
  auto pipe = f.create_pipe(ws, "watched");
  v1::CreateApiKeyRequest ck;
  ck.set_name("second");
  v1::CreateApiKeyResponse second;
  REQUIRE(f.stub().CreateApiKey(f.as(ws.api_key).get(), ck, &second).ok());
  v1::RevokeApiKeyRequest rk;
  rk.set_api_key_id(second.api_key().id());
  v1::ApiKey revoked;
  REQUIRE(f.stub().RevokeApiKey(f.as(ws.api_key).get(), rk, &revoked).ok());

  auto seen = [&](const std::string& needle) {
    for (int i = 0; i < 50; ++i) {
      {
        std::lock_guard lock(mutex);
        for (const auto& e : events) {
          if (e.find(needle) != std::string::npos) return true;
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  };
  CHECK(seen(R"("kind":"pipe.created","workspace_id":")" + ws.id + R"(","pipe_id":")" + pipe.id() + "\""));
  CHECK(seen(R"("kind":"api_key.revoked")"));
  CHECK(seen(second.api_key().id()));
  natsSubscription_Unsubscribe(sub);
  natsSubscription_Destroy(sub);
}
