// Postgres sink, jsonb mode: (bp_record_id text primary key, bp_received_at timestamptz, data jsonb).
#include "postgres_sink.h"

#include "bp/pg/connection.h"

namespace bp::delivery_worker {
namespace {

// Errors worth retrying: the connection, and the server's transient classes.
bool transient(const Error& e) {
  if (e.code == ErrorCode::kUnavailable) return true;
  std::string state = pg::sqlstate_of(e);
  for (const char* cls : {"08", "40", "53", "55", "57", "58"}) {
    if (state.rfind(cls, 0) == 0) return true;
  }
  return false;
}

std::string conninfo_value(const std::string& v) {
  std::string out = "'";
  for (char c : v) {
    if (c == '\'' || c == '\\') out += '\\';
    out += c;
  }
  return out + "'";
}

class PostgresSink final : public Sink {
 public:
  PostgresSink(std::string conninfo, std::string target) : conninfo_(std::move(conninfo)), target_(std::move(target)) {}

  std::optional<SinkFailure> write(const DeliveryBatch& batch) override {
    if (auto failed = connect()) return failed;
    std::string data;
    data.reserve(batch.bytes + batch.records.size() * 64);
    for (const auto& r : batch.records) {
      pg::append_copy_text(data, r.id);
      data += '\t';
      pg::append_copy_text(data, r.received_at);
      data += '\t';
      pg::append_copy_text(data, r.json);
      data += '\n';
    }
    auto written = pg::in_transaction(*conn_, [&](pg::Connection& tx) -> Status {
      auto stage = tx.exec(
          "CREATE TEMP TABLE IF NOT EXISTS bp_stage (bp_record_id text, bp_received_at timestamptz, data jsonb) "
          "ON COMMIT DELETE ROWS");
      if (!stage) return stage.take_error();
      auto copied = tx.copy_in("COPY bp_stage (bp_record_id, bp_received_at, data) FROM STDIN", data);
      if (!copied) return copied.take_error();
      auto inserted = tx.exec("INSERT INTO " + target_ +
                              " (bp_record_id, bp_received_at, data) SELECT bp_record_id, bp_received_at, data "
                              "FROM bp_stage ON CONFLICT (bp_record_id) DO NOTHING");
      if (!inserted) return inserted.take_error();
      return ok_status();
    });
    if (written) return std::nullopt;
    const Error& e = written.error();
    if (!conn_->healthy()) conn_.reset();
    return SinkFailure{!transient(e), e.message};
  }

 private:
  // Connects lazily and again after a loss; creates the table when missing.
  std::optional<SinkFailure> connect() {
    if (conn_ && conn_->healthy()) return std::nullopt;
    conn_.reset();
    auto conn = pg::Connection::connect(conninfo_);
    if (!conn) return SinkFailure{false, conn.error().message};
    auto created = conn->exec("CREATE TABLE IF NOT EXISTS " + target_ +
                              " (bp_record_id text PRIMARY KEY, bp_received_at timestamptz NOT NULL, data jsonb NOT NULL)");
    if (!created) return SinkFailure{!transient(created.error()), created.error().message};
    conn_ = std::make_unique<pg::Connection>(std::move(conn).value());
    return std::nullopt;
  }

  std::string conninfo_;
  std::string target_;
  std::unique_ptr<pg::Connection> conn_;
};

}  // namespace

Result<std::unique_ptr<Sink>> make_postgres_sink(const rapidjson::Value& c, const SinkEnvironment&) {
  if (json::get_string(c, "mode").value_or("jsonb") != "jsonb") {
    return Error::invalid("postgres destinations in columns mode are not delivered yet");
  }
  std::string conninfo = "host=" + conninfo_value(json::get_string(c, "host").value_or("")) +
                         " port=" + std::to_string(json::get_int(c, "port").value_or(5432)) +
                         " dbname=" + conninfo_value(json::get_string(c, "database").value_or("")) +
                         " user=" + conninfo_value(json::get_string(c, "user").value_or("")) +
                         " password=" + conninfo_value(json::get_string(c, "password").value_or("")) +
                         " sslmode=" + conninfo_value(json::get_string(c, "sslmode").value_or("prefer")) +
                         " connect_timeout=10 application_name=batchpipe-delivery-worker";
  std::string target = pg::quote_identifier(json::get_string(c, "schema").value_or("public")) + "." +
                       pg::quote_identifier(json::get_string(c, "table").value_or(""));
  return std::unique_ptr<Sink>(new PostgresSink(std::move(conninfo), std::move(target)));
}

}  // namespace bp::delivery_worker
