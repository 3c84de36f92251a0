// Delivery end to end against real Postgres, NATS and an in-process control-plane: records
// published as the gateway publishes them reach each sink once, in batches that follow the limits.
#include <catch2/catch.hpp>

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <thread>

#include "bp/asio.h"

#include <boost/asio/ssl.hpp>
#include <boost/beast/ssl.hpp>
#include "bp/control_plane/topology.h"
#include "bp/delivery_worker/worker.h"
#include "bp/uuid.h"
#include "fixture.h"
#include "webhook/webhook_sink.h"

using namespace bp::control_plane::testing;
using namespace bp::delivery_worker;
namespace fs = std::filesystem;

namespace {

// Publishes one ingest message (a JSON array of records) the way the gateway does.
// `requests`, when not empty, is the Bp-Requests header of a message carrying several requests.
void publish_body(Fixture& f, const std::string& pipe_id, const std::string& request_id, const std::string& body,
                  int records, const std::string& requests = "") {
  natsMsg* msg = nullptr;
  std::string subject = "bp.in." + pipe_id;
  REQUIRE(natsMsg_Create(&msg, subject.c_str(), nullptr, body.data(), static_cast<int>(body.size())) == NATS_OK);
  natsMsgHeader_Set(msg, "Bp-Request-Id", request_id.c_str());
  natsMsgHeader_Set(msg, "Bp-Received-At", "2026-01-01T00:00:00.000Z");
  natsMsgHeader_Set(msg, "Bp-Record-Count", std::to_string(records).c_str());
  if (!requests.empty()) natsMsgHeader_Set(msg, "Bp-Requests", requests.c_str());
  jsPubAck* ack = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  REQUIRE(js_PublishMsg(&ack, f.nats().jetstream(), msg, nullptr, &jerr) == NATS_OK);
  jsPubAck_Destroy(ack);
  natsMsg_Destroy(msg);
}

// Publishes `records` records {"n":i,"req":request_id}.
void publish(Fixture& f, const std::string& pipe_id, const std::string& request_id, int records) {
  std::string body = "[";
  for (int i = 0; i < records; ++i) {
    if (i) body += ',';
    body += "{\"n\":";
    body += std::to_string(i);
    body += ",\"req\":\"";
    body += request_id;
    body += "\"}";
  }
  body += "]";
  publish_body(f, pipe_id, request_id, body, records);
}

template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
  auto until = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < until) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return pred();
}

// A postgres destination config for a table in `db`, on the test server.
std::string postgres_config(const bp::testing::ScratchDatabase& db, const std::string& table,
                            const std::string& mode = "jsonb") {
  std::smatch m;
  std::string url = bp::testing::pg_admin_url();
  REQUIRE(std::regex_search(url, m, std::regex(R"(@([^:/]+):(\d+))")));
  return R"({"host":")" + m[1].str() + R"(","port":)" + m[2].str() + R"(,"database":")" + db.name() +
         R"(","user":"postgres","table":")" + table + R"(","mode":")" + mode + R"("})";
}

v1::Destination create_destination(Fixture& f, const Workspace& ws, const std::string& pipe_id,
                                   const std::string& type, const std::string& config, const std::string& status = "active") {
  v1::CreateDestinationRequest req;
  req.set_pipe_id(pipe_id);
  req.set_type(type);
  req.set_name(type + "-" + bp::uuid::v4().substr(0, 8));
  req.set_destination_status(status);
  req.set_config_json(config);
  v1::Destination d;
  auto s = f.stub().CreateDestination(f.as(ws.api_key).get(), req, &d);
  INFO(s.error_message());
  REQUIRE(s.ok());
  return d;
}

void set_limits(Fixture& f, const Workspace& ws, const std::string& pipe_id, int64_t max_records, int64_t interval_ms) {
  v1::PutPipeLimitsRequest req;
  req.set_pipe_id(pipe_id);
  req.mutable_limits()->set_pl_delivery_max_records(max_records);
  req.mutable_limits()->set_pl_delivery_max_interval_ms(interval_ms);
  v1::PipeLimits out;
  REQUIRE(f.stub().PutPipeLimits(f.as(ws.api_key).get(), req, &out).ok());
}

// A worker wired like the binary, against the fixture's control-plane.
struct TestWorker {
  std::shared_ptr<Leases> leases;
  std::unique_ptr<Worker> worker;

  TestWorker(Fixture& f, const std::string& file_root, std::chrono::milliseconds lease_ttl = std::chrono::seconds(5),
             const std::string& ca_file = "") {
    auto nats = bp::nats::Client::connect(bp::testing::nats_url(), "worker-test");
    REQUIRE(nats.ok());
    auto l = Leases::open(*nats, "test-" + bp::uuid::v4().substr(0, 8), lease_ttl);
    REQUIRE(l.ok());
    leases = std::move(l).value();
    WorkerOptions options;
    options.refresh = std::chrono::milliseconds(300);
    options.sink_env.file_root = file_root;
    options.sink_env.webhook_allow_private = true;
    options.sink_env.webhook_ca_file = ca_file;
    worker = std::make_unique<Worker>(options, f.stub_shared(), *nats, leases);
    worker->start();
  }
  ~TestWorker() { worker->stop(); }
};

struct TempDir {
  fs::path path = fs::temp_directory_path() / ("bp-worker-" + bp::uuid::v4());
  TempDir() { fs::create_directories(path); }
  ~TempDir() { fs::remove_all(path); }
};

// What nats-server says of a destination's consumer, for the message of a failing check: tells a
// record that is late (delivered, not acked, or waiting for AckWait) from one that is lost.
std::string consumer_state(Fixture& f, const std::string& destination_id) {
  jsConsumerInfo* info = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  std::string name = bp::control_plane::consumer_name(destination_id);
  if (js_GetConsumerInfo(&info, f.nats().jetstream(), bp::control_plane::kIngestStream, name.c_str(), nullptr, &jerr) != NATS_OK) {
    return "no information on consumer " + name;
  }
  std::string state = "consumer " + name + ": delivered up to stream sequence " +
                      std::to_string(info->Delivered.Stream) + ", acked up to " + std::to_string(info->AckFloor.Stream) +
                      ", " + std::to_string(info->NumAckPending) + " awaiting ack, " +
                      std::to_string(info->NumRedelivered) + " redelivered, " + std::to_string(info->NumPending) +
                      " not yet delivered, " + std::to_string(info->NumWaiting) + " pull requests waiting";
  jsConsumerInfo_Destroy(info);
  return state;
}

int64_t count_lines(const fs::path& root) {
  int64_t n = 0;
  if (!fs::exists(root)) return 0;
  for (const auto& e : fs::recursive_directory_iterator(root)) {
    if (!e.is_regular_file()) continue;
    std::ifstream in(e.path());
    std::string line;
    while (std::getline(in, line)) ++n;
  }
  return n;
}

}  // namespace

TEST_CASE("postgres sink: every record exactly once, batches within the limits", "[integration]") {
  Fixture f;
  bp::testing::ScratchDatabase sink_db;
  auto ws = f.new_workspace();
  auto pipe = f.create_pipe(ws, "to-postgres");
  set_limits(f, ws, pipe.id(), 5, 100);
  auto dest = create_destination(f, ws, pipe.id(), "postgres", postgres_config(sink_db, "events"));
  std::vector<std::string> requests;
  for (int i = 0; i < 20; ++i) {
    requests.push_back(bp::uuid::v4());
    publish(f, pipe.id(), requests.back(), 3);
  }
  publish(f, pipe.id(), requests[7], 3);  // a redelivered request: same record ids

  TempDir files;
  TestWorker worker(f, files.path.string());
  auto sink = bp::pg::Connection::connect(sink_db.url());
  REQUIRE(sink.ok());
  auto rows = [&]() -> int64_t {
    auto r = sink->exec("SELECT count(*) AS n, count(DISTINCT bp_record_id) AS d FROM events");
    return r ? r->integer(0, "n") : -1;
  };
  REQUIRE(eventually([&] { return rows() == 60; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  CHECK(rows() == 60);
  auto sample = sink->exec("SELECT data->>'req' AS req, bp_received_at FROM events WHERE bp_record_id = $1",
                           {requests[3] + ":2"});
  REQUIRE(sample.ok());
  REQUIRE(sample->size() == 1);
  CHECK(sample->text(0, "req") == requests[3]);

  v1::ListRunsRequest lr;
  lr.set_pipe_id(pipe.id());
  lr.set_limit(200);
  v1::ListRunsResponse runs;
  REQUIRE(eventually([&] {
    runs.Clear();
    if (!f.stub().ListRuns(f.as(ws.api_key).get(), lr, &runs).ok()) return false;
    int64_t total = 0;
    for (const auto& r : runs.runs()) total += r.status() == "success" ? r.records() : 0;
    return total == 63;  // the redelivered request counts as delivered records, written once
  }));
  for (const auto& r : runs.runs()) {
    CHECK(r.records() <= 5);
    CHECK(r.destination_id() == dest.id());
  }
}

TEST_CASE("a message carrying several requests gives each record its own request's id and time", "[integration]") {
  Fixture f;
  bp::testing::ScratchDatabase sink_db;
  auto ws = f.new_workspace();
  auto pipe = f.create_pipe(ws, "coalesced");
  set_limits(f, ws, pipe.id(), 1000, 100);
  create_destination(f, ws, pipe.id(), "postgres", postgres_config(sink_db, "events"));
  // Three requests of 1, 3 and 2 records in one message, as the gateway joins them.
  std::vector<std::string> ids = {bp::uuid::v4(), bp::uuid::v4(), bp::uuid::v4()};
  std::vector<int> counts = {1, 3, 2};
  std::string body = "[", requests;
  for (size_t r = 0; r < ids.size(); ++r) {
    for (int i = 0; i < counts[r]; ++i) {
      if (body.size() > 1) body += ',';
      body += R"({"req":")" + ids[r] + R"(","n":)" + std::to_string(i) + "}";
    }
    if (!requests.empty()) requests += ',';
    requests += ids[r] + " " + std::to_string(counts[r]) + " 2026-01-01T00:00:0" + std::to_string(r + 1) + ".000Z";
  }
  body += "]";
  publish_body(f, pipe.id(), ids[0], body, 6, requests);
  // A Bp-Requests that does not add up to the records: delivered anyway, under the first id.
  std::string odd = bp::uuid::v4();
  publish_body(f, pipe.id(), odd, R"([{"req":"odd","n":0},{"req":"odd","n":1}])", 2,
               odd + " 1 2026-01-01T00:00:09.000Z," + bp::uuid::v4() + " 5 2026-01-01T00:00:09.000Z");

  // Counts that would overflow a sum and wrap round to the record count: refused the same way.
  std::string forged = bp::uuid::v4();
  publish_body(f, pipe.id(), forged, R"([{"req":"forged","n":0}])", 1,
               forged + " 9223372036854775807 t,b 9223372036854775807 t,c 3 t");

  TempDir files;
  TestWorker worker(f, files.path.string());
  auto sink = bp::pg::Connection::connect(sink_db.url());
  REQUIRE(sink.ok());
  auto rows = [&]() -> int64_t {
    auto r = sink->exec("SELECT count(*) AS n FROM events");
    return r ? r->integer(0, "n") : -1;
  };
  REQUIRE(eventually([&] { return rows() == 9; }));
  auto kept = sink->exec("SELECT count(*) AS n FROM events WHERE bp_record_id = $1", {forged + ":0"});
  REQUIRE(kept.ok());
  CHECK(kept->integer(0, "n") == 1);
  for (size_t r = 0; r < ids.size(); ++r) {
    for (int i = 0; i < counts[r]; ++i) {
      INFO("request " << r << " record " << i);
      auto row = sink->exec(
          "SELECT data->>'req' AS req, (data->>'n')::int AS n, "
          "to_char(bp_received_at AT TIME ZONE 'UTC', 'SS') AS s FROM events WHERE bp_record_id = $1",
          {ids[r] + ":" + std::to_string(i)});
      REQUIRE(row.ok());
      REQUIRE(row->size() == 1);
      CHECK(row->text(0, "req") == ids[r]);
      CHECK(row->integer(0, "n") == i);
      CHECK(row->text(0, "s") == "0" + std::to_string(r + 1));
    }
  }
  auto fallback = sink->exec("SELECT count(*) AS n FROM events WHERE bp_record_id IN ($1, $2) AND data->>'req' = 'odd'",
                             {odd + ":0", odd + ":1"});
  REQUIRE(fallback.ok());
  CHECK(fallback->integer(0, "n") == 2);
}

TEST_CASE("a blocked destination holds its records, then delivers them when active", "[integration]") {
  Fixture f;
  auto ws = f.new_workspace();
  auto pipe = f.create_pipe(ws, "held");
  set_limits(f, ws, pipe.id(), 1000, 100);
  auto dest = create_destination(f, ws, pipe.id(), "file", R"({"path":"held"})", "blocked");
  for (int i = 0; i < 4; ++i) publish(f, pipe.id(), bp::uuid::v4(), 2);
  TempDir files;
  TestWorker worker(f, files.path.string());
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  CHECK(count_lines(files.path) == 0);

  v1::SetDestinationStatusRequest st;
  st.set_pipe_id(pipe.id());
  st.set_destination_id(dest.id());
  st.set_destination_status("active");
  v1::Destination out;
  REQUIRE(f.stub().SetDestinationStatus(f.as(ws.api_key).get(), st, &out).ok());
  CHECK(eventually([&] { return count_lines(files.path) == 8; }));
}

namespace {

// A webhook receiver on loopback that answers each connection on a thread of its own. It fails
// the first `failures` requests with `failure`; it answers the others 200 after `delay` and keeps
// them (accepted()). A request whose body has "hold" waits for release() first, so that one write
// can be held while the others are answered.
class Receiver {
 public:
  explicit Receiver(int failures = 0,
                    boost::beast::http::status failure = boost::beast::http::status::service_unavailable,
                    std::chrono::milliseconds delay = std::chrono::milliseconds(0))
      : failures_(failures),
        failure_(failure),
        delay_(delay),
        acceptor_(io_, {boost::asio::ip::make_address("127.0.0.1"), 0}) {
    thread_ = std::thread([this] { serve(); });
  }
  ~Receiver() {
    release();
    stop_ = true;
    boost::system::error_code ec;
    boost::asio::ip::tcp::socket s(io_);
    s.connect(acceptor_.local_endpoint(), ec);  // wake accept()
    thread_.join();
    for (auto& t : connections_) t.join();
  }
  unsigned short port() const { return acceptor_.local_endpoint().port(); }
  struct Got {
    std::string id, timestamp, signature, body;
  };
  // In the order they were answered.
  std::vector<Got> accepted() {
    std::lock_guard lock(mutex_);
    return accepted_;
  }
  bool holding() {
    std::lock_guard lock(mutex_);
    return holding_;
  }
  void release() {
    std::lock_guard lock(mutex_);
    released_ = true;
    changed_.notify_all();
  }

 private:
  void serve() {
    while (!stop_) {
      boost::asio::ip::tcp::socket socket(io_);
      boost::system::error_code ec;
      acceptor_.accept(socket, ec);
      if (ec || stop_) break;
      connections_.emplace_back([this, socket = std::move(socket)]() mutable { answer(socket); });
    }
  }
  void answer(boost::asio::ip::tcp::socket& socket) {
    namespace http = boost::beast::http;
    boost::system::error_code ec;
    boost::beast::flat_buffer buffer;
    http::request<http::string_body> req;
    http::read(socket, buffer, req, ec);
    if (ec) return;
    http::response<http::string_body> res{http::status::ok, 11};
    if (failures_-- > 0) {
      res.result(failure_);
    } else {
      {
        std::unique_lock lock(mutex_);
        if (req.body().find("\"hold\"") != std::string::npos) {
          holding_ = true;
          changed_.wait_for(lock, std::chrono::seconds(60), [&] { return released_; });
          holding_ = false;
        }
      }
      std::this_thread::sleep_for(delay_);
      std::lock_guard lock(mutex_);
      accepted_.push_back({std::string(req["webhook-id"]), std::string(req["webhook-timestamp"]),
                           std::string(req["webhook-signature"]), req.body()});
    }
    res.prepare_payload();
    http::write(socket, res, ec);
  }

  std::atomic<int> failures_;
  boost::beast::http::status failure_;
  std::chrono::milliseconds delay_;
  std::atomic<bool> stop_{false};
  boost::asio::io_context io_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::mutex mutex_;
  std::condition_variable changed_;
  bool holding_ = false, released_ = false;
  std::vector<Got> accepted_;
  std::vector<std::thread> connections_;  // only the accepting thread touches it until the end
  std::thread thread_;
};

}  // namespace

TEST_CASE("webhook sink: a failing receiver gets everything once it recovers, signed", "[integration]") {
  Receiver receiver(3);
  Fixture f;
  auto ws = f.new_workspace();
  auto pipe = f.create_pipe(ws, "hooked");
  set_limits(f, ws, pipe.id(), 1000, 100);
  const std::string secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
  create_destination(f, ws, pipe.id(), "webhook",
                     R"({"url":"http://127.0.0.1:)" + std::to_string(receiver.port()) + R"(/hook","signing_secret":")" +
                         secret + R"("})");
  for (int i = 0; i < 5; ++i) publish(f, pipe.id(), bp::uuid::v4(), 2);
  TempDir files;
  TestWorker worker(f, files.path.string());
  auto records = [&] {
    int n = 0;
    for (const auto& got : receiver.accepted()) {
      auto doc = bp::json::parse(got.body);
      if (doc && doc->IsArray()) n += static_cast<int>(doc->Size());
    }
    return n;
  };
  REQUIRE(eventually([&] { return records() >= 10; }, std::chrono::seconds(30)));
  CHECK(records() == 10);
  for (const auto& got : receiver.accepted()) {
    CHECK(got.signature == webhook_signature(secret, got.id, got.timestamp, got.body));
    CHECK_FALSE(got.id.empty());
  }
}

// With two writes in flight (the default), a receiver that takes long over one batch must not
// slow the rest down: the other connection carries on at its own pace. (The loop used to wait up
// to 100 ms on the oldest write before it looked at the others, so the batches behind a slow one
// went at ten a second: 100 batches of 10 ms each took over 10 s, where they take about 1.5 s.)
TEST_CASE("webhook sink: one slow request does not slow down the batches behind it", "[integration]") {
  Receiver receiver(0, boost::beast::http::status::service_unavailable, std::chrono::milliseconds(10));
  Fixture f;
  auto ws = f.new_workspace();
  auto pipe = f.create_pipe(ws, "one-slow");
  set_limits(f, ws, pipe.id(), 1, 100);  // a batch per record
  create_destination(f, ws, pipe.id(), "webhook",
                     R"({"url":"http://127.0.0.1:)" + std::to_string(receiver.port()) +
                         R"(/hook","signing_secret":"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"})");
  publish_body(f, pipe.id(), bp::uuid::v4(), R"([{"hold":true}])", 1);
  constexpr int kBehind = 100;
  for (int i = 0; i < kBehind; ++i) publish(f, pipe.id(), bp::uuid::v4(), 1);
  TempDir files;
  TestWorker worker(f, files.path.string());
  REQUIRE(eventually([&] { return receiver.holding(); }));
  // All of them while the first is still held.
  CHECK(eventually([&] { return static_cast<int>(receiver.accepted().size()) >= kBehind; }, std::chrono::seconds(5)));
  CHECK(receiver.holding());
  receiver.release();
  REQUIRE(eventually([&] { return static_cast<int>(receiver.accepted().size()) >= kBehind + 1; }));
  auto got = receiver.accepted();
  CHECK(got.size() == kBehind + 1);  // each batch once
  CHECK(got.back().body.find("\"hold\"") != std::string::npos);
}

TEST_CASE("workers share destinations through leases and take over a stopped worker's", "[integration]") {
  Fixture f;
  auto ws = f.new_workspace();
  auto pipe = f.create_pipe(ws, "shared");
  set_limits(f, ws, pipe.id(), 1000, 100);
  std::vector<std::string> ids;
  for (int i = 0; i < 4; ++i) {
    ids.push_back(create_destination(f, ws, pipe.id(), "file", R"({"path":"d)" + std::to_string(i) + R"("})").id());
  }
  TempDir files;
  auto a = std::make_unique<TestWorker>(f, files.path.string(), std::chrono::seconds(2));
  TestWorker b(f, files.path.string(), std::chrono::seconds(2));
  REQUIRE(eventually([&] { return a->leases->held() + b.leases->held() == 4; }));
  CHECK(a->leases->held() + b.leases->held() == 4);  // each destination held once

  for (int i = 0; i < 5; ++i) publish(f, pipe.id(), bp::uuid::v4(), 2);
  REQUIRE(eventually([&] { return count_lines(files.path) == 40; }));

  a.reset();  // stops, releasing its leases
  REQUIRE(eventually([&] { return b.leases->held() == 4; }));
  for (int i = 0; i < 5; ++i) publish(f, pipe.id(), bp::uuid::v4(), 2);
  CHECK(eventually([&] { return count_lines(files.path) == 80; }));
  // Stopping never deletes a destination's consumer.
  for (const auto& id : ids) {
    auto exists = f.nats().consumer_exists(bp::control_plane::kIngestStream, bp::control_plane::consumer_name(id));
    REQUIRE(exists.ok());
    CHECK(*exists);
  }
}

TEST_CASE("a worker whose lease is taken stops delivering until it can take the lease again", "[integration]") {
  Fixture f;
  auto ws = f.new_workspace();
  auto pipe = f.create_pipe(ws, "stolen");
  set_limits(f, ws, pipe.id(), 1000, 100);
  auto dest = create_destination(f, ws, pipe.id(), "file", R"({"path":"d"})");
  TempDir files;
  TestWorker w(f, files.path.string(), std::chrono::seconds(2));  // renews every 667 ms
  REQUIRE(eventually([&] { return w.leases->held() == 1; }));
  publish(f, pipe.id(), bp::uuid::v4(), 2);
  REQUIRE(eventually([&] { return count_lines(files.path) == 2; }));

  // Another owner writes the lease entry (as a worker would that took it after this one's had
  // expired) and keeps it fresh: this worker's next renewal fails, and it stops delivering.
  kvStore* kv = nullptr;
  REQUIRE(js_KeyValue(&kv, f.nats().jetstream(), "bp_leases") == NATS_OK);
  std::atomic<bool> stealing{true};
  std::thread thief([&] {
    while (stealing) {
      uint64_t revision = 0;
      kvStore_PutString(&revision, kv, dest.id().c_str(), "thief");
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
    }
  });
  CHECK(eventually([&] { return w.leases->held() == 0; }, std::chrono::seconds(5)));
  // Its loop ends within a fetch (100 ms here) and the wait for its last pull request.
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  publish(f, pipe.id(), bp::uuid::v4(), 3);
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  CHECK(count_lines(files.path) == 2);  // nothing written while another worker owns it
  CHECK(w.leases->held() == 0);

  // The other owner goes quiet: its entry expires (the bucket's TTL), this worker takes the
  // lease back and writes what waited, once.
  stealing = false;
  thief.join();
  kvStore_Destroy(kv);
  CHECK(eventually([&] { return w.leases->held() == 1; }));
  // Should the old loop still have fetched them (a slow machine), it gave them back, and
  // nats-server 2.9 hands a message given back while no pull request waits out again only after
  // AckWait (30 s; docs/RELIABILITY.md): late, never lost.
  bool written = eventually([&] { return count_lines(files.path) == 5; }, std::chrono::seconds(45));
  INFO(consumer_state(f, dest.id()));
  CHECK(written);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  CHECK(count_lines(files.path) == 5);
}

TEST_CASE("a poison record goes to the dead-letter stream, the rest of its batch is written", "[integration]") {
  Fixture f;
  bp::testing::ScratchDatabase sink_db;
  auto ws = f.new_workspace();
  auto pipe = f.create_pipe(ws, "poisoned");
  set_limits(f, ws, pipe.id(), 1000, 200);
  auto dest = create_destination(f, ws, pipe.id(), "postgres", postgres_config(sink_db, "events"));
  for (int i = 0; i < 3; ++i) publish(f, pipe.id(), bp::uuid::v4(), 2);
  // Postgres refuses \u0000 in jsonb text: a record no retry will ever write.
  std::string poison_request = bp::uuid::v4();
  publish_body(f, pipe.id(), poison_request, R"([{"ok":1},{"bad":"\u0000"}])", 2);
  TempDir files;
  TestWorker worker(f, files.path.string());
  auto sink = bp::pg::Connection::connect(sink_db.url());
  REQUIRE(sink.ok());
  REQUIRE(eventually([&] {
    auto r = sink->exec("SELECT count(*) AS n FROM events");
    return r && r->integer(0, "n") == 7;
  }));
  // The dead letter: on bp.dlq.<pipe>.<destination>, with the record's id and the error.
  natsMsg* dead = nullptr;
  std::string subject = "bp.dlq." + pipe.id() + "." + dest.id();
  REQUIRE(eventually([&] {
    return js_GetLastMsg(&dead, f.nats().jetstream(), "BP_DLQ", subject.c_str(), nullptr, nullptr) == NATS_OK;
  }));
  const char* record_id = nullptr;
  const char* error = nullptr;
  natsMsgHeader_Get(dead, "Bp-Record-Id", &record_id);
  natsMsgHeader_Get(dead, "Bp-Error", &error);
  CHECK(std::string(record_id) == poison_request + ":1");
  CHECK(std::string(error).find("22P05") != std::string::npos);
  CHECK(std::string(natsMsg_GetData(dead), natsMsg_GetDataLength(dead)) == R"({"bad":"\u0000"})");
  natsMsg_Destroy(dead);
}

TEST_CASE("dead letters are listed and replayed to their destination only", "[integration]") {
  Receiver receiver(1, boost::beast::http::status::bad_request);  // the first batch is refused for good
  Fixture f;
  auto ws = f.new_workspace();
  auto pipe = f.create_pipe(ws, "replayed");
  set_limits(f, ws, pipe.id(), 1000, 100);
  auto hook = create_destination(f, ws, pipe.id(), "webhook",
                                 R"({"url":"http://127.0.0.1:)" + std::to_string(receiver.port()) + R"(/hook"})");
  create_destination(f, ws, pipe.id(), "file", R"({"path":"other"})");
  std::string request = bp::uuid::v4();
  publish(f, pipe.id(), request, 1);
  TempDir files;
  TestWorker worker(f, files.path.string());

  v1::ListDeadLettersRequest list;
  list.set_pipe_id(pipe.id());
  list.set_destination_id(hook.id());
  v1::ListDeadLettersResponse dead;
  REQUIRE(eventually([&] {
    dead.Clear();
    return f.stub().ListDeadLetters(f.as(ws.api_key).get(), list, &dead).ok() && dead.dead_letters_size() == 1;
  }));
  CHECK(dead.dead_letters(0).record_id() == request + ":0");
  CHECK(dead.dead_letters(0).error().find("400") != std::string::npos);
  CHECK(receiver.accepted().empty());
  REQUIRE(eventually([&] { return count_lines(files.path) == 1; }));

  v1::ReplayDeadLettersRequest replay;
  replay.set_pipe_id(pipe.id());
  replay.set_destination_id(hook.id());
  v1::ReplayDeadLettersResponse replayed;
  REQUIRE(f.stub().ReplayDeadLetters(f.as(ws.api_key).get(), replay, &replayed).ok());
  CHECK(replayed.replayed() == 1);
  REQUIRE(eventually([&] { return receiver.accepted().size() == 1; }));
  CHECK(receiver.accepted()[0].body.find(request) != std::string::npos);
  dead.Clear();
  REQUIRE(f.stub().ListDeadLetters(f.as(ws.api_key).get(), list, &dead).ok());
  CHECK(dead.dead_letters_size() == 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  CHECK(count_lines(files.path) == 1);  // the file destination did not get the replay

  // Another workspace cannot see or replay them.
  auto other = f.new_workspace();
  CHECK(f.stub().ListDeadLetters(f.as(other.api_key).get(), list, &dead).error_code() == grpc::StatusCode::NOT_FOUND);
  CHECK(f.stub().ReplayDeadLetters(f.as(other.api_key).get(), replay, &replayed).error_code() ==
        grpc::StatusCode::NOT_FOUND);
}

TEST_CASE("postgres columns mode: fields fill columns by name, type errors fail only their records", "[integration]") {
  Fixture f;
  bp::testing::ScratchDatabase sink_db;
  auto sink = bp::pg::Connection::connect(sink_db.url());
  REQUIRE(sink.ok());
  REQUIRE(sink->exec("CREATE TABLE signups (bp_record_id text PRIMARY KEY, bp_received_at timestamptz, "
                     "n integer NOT NULL, req text, plan text DEFAULT 'free', created timestamptz DEFAULT now())")
              .ok());
  auto ws = f.new_workspace();
  auto pipe = f.create_pipe(ws, "columns");
  set_limits(f, ws, pipe.id(), 1000, 200);
  auto dest = create_destination(f, ws, pipe.id(), "postgres", postgres_config(sink_db, "signups", "columns"));
  for (int i = 0; i < 3; ++i) publish(f, pipe.id(), bp::uuid::v4(), 2);  // {"n":0|1,"req":...}
  std::string odd = bp::uuid::v4();
  publish_body(f, pipe.id(), odd, R"([{"n":"not a number"},{"n":7,"plan":"pro","unknown":true}])", 2);
  TempDir files;
  TestWorker worker(f, files.path.string());
  REQUIRE(eventually([&] {
    auto r = sink->exec("SELECT count(*) AS n FROM signups");
    return r && r->integer(0, "n") == 7;
  }));
  auto pro = sink->exec("SELECT n, plan, created IS NOT NULL AS has_created FROM signups WHERE bp_record_id = $1",
                        {odd + ":1"});
  REQUIRE(pro.ok());
  REQUIRE(pro->size() == 1);
  CHECK(pro->integer(0, "n") == 7);
  CHECK(pro->text(0, "plan") == "pro");
  CHECK(pro->boolean(0, "has_created"));  // absent field: the column default
  auto free_plan = sink->exec("SELECT count(*) AS n FROM signups WHERE plan = 'free'");
  CHECK(free_plan->integer(0, "n") == 6);

  v1::ListDeadLettersRequest list;
  list.set_pipe_id(pipe.id());
  list.set_destination_id(dest.id());
  v1::ListDeadLettersResponse dead;
  REQUIRE(eventually([&] {
    dead.Clear();
    return f.stub().ListDeadLetters(f.as(ws.api_key).get(), list, &dead).ok() && dead.dead_letters_size() == 1;
  }));
  CHECK(dead.dead_letters(0).record_id() == odd + ":0");
  CHECK(dead.dead_letters(0).error().find("22P02") != std::string::npos);
}

namespace {

// An https receiver with a throw-away certificate for localhost (made with the openssl CLI).
class TlsReceiver {
 public:
  explicit TlsReceiver(const fs::path& dir) : tls_(boost::asio::ssl::context::tls_server) {
    cert_ = (dir / "cert.pem").string();
    std::string key = (dir / "key.pem").string();
    std::string cmd = "openssl req -x509 -newkey rsa:2048 -nodes -keyout " + key + " -out " + cert_ +
                      " -subj /CN=localhost -addext subjectAltName=DNS:localhost -days 1 2>/dev/null";
    REQUIRE(std::system(cmd.c_str()) == 0);
    tls_.use_certificate_chain_file(cert_);
    tls_.use_private_key_file(key, boost::asio::ssl::context::pem);
    acceptor_.open(boost::asio::ip::tcp::v4());
    acceptor_.bind({boost::asio::ip::make_address("127.0.0.1"), 0});
    acceptor_.listen();
    thread_ = std::thread([this] { serve(); });
  }
  ~TlsReceiver() {
    stop_ = true;
    boost::system::error_code ec;
    boost::asio::ip::tcp::socket s(io_);
    s.connect(acceptor_.local_endpoint(), ec);
    thread_.join();
  }
  unsigned short port() const { return acceptor_.local_endpoint().port(); }
  const std::string& cert() const { return cert_; }
  int received() const { return received_; }

 private:
  void serve() {
    namespace http = boost::beast::http;
    while (!stop_) {
      boost::asio::ip::tcp::socket socket(io_);
      boost::system::error_code ec;
      acceptor_.accept(socket, ec);
      if (ec || stop_) break;
      boost::beast::ssl_stream<boost::asio::ip::tcp::socket> stream(std::move(socket), tls_);
      stream.handshake(boost::asio::ssl::stream_base::server, ec);
      if (ec) continue;
      boost::beast::flat_buffer buffer;
      http::request<http::string_body> req;
      http::read(stream, buffer, req, ec);
      if (ec) continue;
      auto doc = bp::json::parse(req.body());
      if (doc && doc->IsArray()) received_ += static_cast<int>(doc->Size());
      http::response<http::string_body> res{http::status::ok, 11};
      res.prepare_payload();
      http::write(stream, res, ec);
      stream.shutdown(ec);
    }
  }

  boost::asio::io_context io_;
  boost::asio::ssl::context tls_;
  boost::asio::ip::tcp::acceptor acceptor_{io_};
  std::string cert_;
  std::atomic<bool> stop_{false};
  std::atomic<int> received_{0};
  std::thread thread_;
};

}  // namespace

TEST_CASE("webhook sink speaks https and verifies the receiver's certificate", "[integration]") {
  TempDir certs;
  TlsReceiver receiver(certs.path);
  Fixture f;
  auto ws = f.new_workspace();
  auto pipe = f.create_pipe(ws, "tls");
  set_limits(f, ws, pipe.id(), 1000, 100);
  create_destination(f, ws, pipe.id(), "webhook",
                     R"({"url":"https://localhost:)" + std::to_string(receiver.port()) + R"(/hook"})");
  for (int i = 0; i < 3; ++i) publish(f, pipe.id(), bp::uuid::v4(), 2);
  TempDir files;
  TestWorker worker(f, files.path.string(), std::chrono::seconds(5), receiver.cert());
  CHECK(eventually([&] { return receiver.received() == 6; }));
}
