// Postgres sink. jsonb mode: (bp_record_id text primary key, bp_received_at timestamptz, data jsonb),
// created when missing; a batch is one COPY into the table, or, when some of its records are
// there already (redelivery), COPY into a staging table and INSERT ... ON CONFLICT DO NOTHING. columns mode: an existing table with a unique bp_record_id column; each
// record's top-level fields fill the columns of the same name (jsonb_populate_record), unknown
// fields are ignored, absent ones take the column default, and type errors fail only the records
// that cause them (the core splits the batch).
#include "postgres_sink.h"

#include "bp/pg/connection.h"

namespace bp::delivery_worker {
namespace {

// The first key of the advisory lock a table's create takes (the second is the hash of the
// table's name): a space of its own, so that the lock meets no lock of the user's own on one key.
constexpr int kCreateLockSpace = 0x42500001;

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
  bool parallel_writes() const override { return true; }
  PostgresSink(std::string conninfo, std::string schema, std::string table, bool columns_mode)
      : conninfo_(std::move(conninfo)),
        schema_(std::move(schema)),
        table_(std::move(table)),
        target_(pg::quote_identifier(schema_) + "." + pg::quote_identifier(table_)),
        columns_mode_(columns_mode) {}

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
    if (!columns_mode_) {
      if (direct_pause_ == 0) {
        // The common case: none of the records is in the table yet, and one COPY straight into it
        // (atomic on its own) writes them all, with half the work of going through bp_stage.
        auto copied = conn_->copy_in(direct_copy_sql_, data);
        if (copied) return std::nullopt;
        if (copied.error().code != ErrorCode::kConflict) return failure(copied.error());  // 23505 is kConflict
        // Some are there already (a batch delivered again after a crash or a lost ack): the
        // staging path skips them. Redeliveries come in runs, so the next batches take it too.
        direct_pause_ = kDirectPauseBatches;
      } else {
        --direct_pause_;
      }
    }
    auto written = pg::in_transaction(*conn_, [&](pg::Connection& tx) -> Status {
      auto stage = tx.exec(
          "CREATE TEMP TABLE IF NOT EXISTS bp_stage (bp_record_id text, bp_received_at timestamptz, data jsonb) "
          "ON COMMIT DELETE ROWS");
      if (!stage) return stage.take_error();
      auto copied = tx.copy_in("COPY bp_stage (bp_record_id, bp_received_at, data) FROM STDIN", data);
      if (!copied) return copied.take_error();
      auto inserted = tx.exec(insert_sql_);
      if (!inserted) return inserted.take_error();
      return ok_status();
    });
    if (written) return std::nullopt;
    return failure(written.error());
  }

 private:
  // Connects lazily and again after a loss; creates the table when missing.
  std::optional<SinkFailure> connect() {
    if (conn_ && conn_->healthy()) return std::nullopt;
    conn_.reset();
    auto conn = pg::Connection::connect(conninfo_);
    if (!conn) return SinkFailure{false, conn.error().message};
    auto prepared = columns_mode_ ? prepare_columns(*conn) : prepare_jsonb(*conn);
    if (prepared) return prepared;
    conn_ = std::make_unique<pg::Connection>(std::move(conn).value());
    return std::nullopt;
  }

  SinkFailure failure(const Error& e) {
    if (!conn_->healthy()) conn_.reset();
    return SinkFailure{!transient(e), e.message};
  }

  std::optional<SinkFailure> prepare_jsonb(pg::Connection& conn) {
    // Connections of one destination (or of several on one table) start together: unserialized,
    // each CREATE TABLE IF NOT EXISTS finds no table, and all but one fail on pg_type's unique
    // index (23505) or with 42P07, a failed batch for each. So the create takes a lock on the
    // table's name first (transaction-scoped: PQexec runs the two statements as one transaction);
    // the connections that waited for it then find the table.
    auto created = conn.exec_script("SELECT pg_advisory_xact_lock(" + std::to_string(kCreateLockSpace) + ", hashtext(" +
                                    pg::quote_literal(target_) + ")); CREATE TABLE IF NOT EXISTS " + target_ +
                                    " (bp_record_id text PRIMARY KEY, bp_received_at timestamptz NOT NULL, data jsonb NOT NULL)");
    if (!created) {
      // A table created at the same moment by something that does not take the lock: the retry finds it.
      bool race = created.error().code == ErrorCode::kConflict || pg::sqlstate_of(created.error()) == "42P07";
      return SinkFailure{!race && !transient(created.error()), created.error().message};
    }
    insert_sql_ = "INSERT INTO " + target_ +
                  " (bp_record_id, bp_received_at, data) SELECT bp_record_id, bp_received_at, data FROM bp_stage "
                  "ON CONFLICT (bp_record_id) DO NOTHING";
    direct_copy_sql_ = "COPY " + target_ + " (bp_record_id, bp_received_at, data) FROM STDIN";
    return std::nullopt;
  }

  // Reads the table's columns once per connection and builds the INSERT for them. A table that
  // is missing or lacks bp_record_id is not the records' fault: it fails as transient, so records
  // wait (and dead-letter only after pl_delivery_max_attempts).
  std::optional<SinkFailure> prepare_columns(pg::Connection& conn) {
    auto cols = conn.exec(
        "SELECT column_name, column_default, is_generated, identity_generation FROM information_schema.columns "
        "WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position",
        {schema_, table_});
    if (!cols) return SinkFailure{!transient(cols.error()), cols.error().message};
    if (cols->empty()) return SinkFailure{false, "table " + schema_ + "." + table_ + " does not exist"};
    std::string names = "bp_record_id", values = "s.bp_record_id";
    bool has_id = false;
    for (int i = 0; i < cols->size(); ++i) {
      std::string name = cols->text(i, "column_name");
      if (name == "bp_record_id") {
        has_id = true;
        continue;
      }
      if (cols->text(i, "is_generated") == "ALWAYS" || cols->text(i, "identity_generation") == "ALWAYS") continue;
      std::string quoted = pg::quote_identifier(name);
      names += ", " + quoted;
      if (name == "bp_received_at") {
        values += ", s.bp_received_at";
        continue;
      }
      std::string fallback = cols->optional_text(i, "column_default").value_or("NULL");
      values += ", CASE WHEN s.data ? " + pg::quote_literal(name) + " THEN r." + quoted + " ELSE " + fallback + " END";
    }
    if (!has_id) return SinkFailure{false, "table " + schema_ + "." + table_ + " has no bp_record_id column"};
    insert_sql_ = "INSERT INTO " + target_ + " (" + names + ") SELECT " + values + " FROM bp_stage s " +
                  "CROSS JOIN LATERAL jsonb_populate_record(NULL::" + target_ + ", s.data) r " +
                  "ON CONFLICT (bp_record_id) DO NOTHING";
    return std::nullopt;
  }

  std::string conninfo_;
  std::string schema_;
  std::string table_;
  std::string target_;
  bool columns_mode_;
  std::string insert_sql_;
  std::string direct_copy_sql_;  // jsonb mode
  // Batches still to write through bp_stage after a direct COPY met records already there.
  static constexpr int kDirectPauseBatches = 16;
  int direct_pause_ = 0;
  std::unique_ptr<pg::Connection> conn_;
};

}  // namespace

Result<std::unique_ptr<Sink>> make_postgres_sink(const rapidjson::Value& c, const SinkEnvironment&) {
  std::string conninfo = "host=" + conninfo_value(json::get_string(c, "host").value_or("")) +
                         " port=" + std::to_string(json::get_int(c, "port").value_or(5432)) +
                         " dbname=" + conninfo_value(json::get_string(c, "database").value_or("")) +
                         " user=" + conninfo_value(json::get_string(c, "user").value_or("")) +
                         " password=" + conninfo_value(json::get_string(c, "password").value_or("")) +
                         " sslmode=" + conninfo_value(json::get_string(c, "sslmode").value_or("prefer")) +
                         " connect_timeout=10 application_name=batchpipe-delivery-worker";
  return std::unique_ptr<Sink>(new PostgresSink(std::move(conninfo), json::get_string(c, "schema").value_or("public"),
                                                json::get_string(c, "table").value_or(""),
                                                json::get_string(c, "mode").value_or("jsonb") == "columns"));
}

}  // namespace bp::delivery_worker
