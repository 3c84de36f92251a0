// RAII owners for libpq: a connection, query results, and one error type (bp::Error).
#pragma once

#include <libpq-fe.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bp/result.h"

namespace bp::pg {

// A text-format parameter; nullopt is SQL NULL.
using Param = std::optional<std::string>;
using Params = std::vector<Param>;

// Query results, read by row and column name. Owns the PGresult.
class Rows {
 public:
  explicit Rows(PGresult* result) : result_(result, &PQclear) {}
  int size() const { return PQntuples(result_.get()); }
  bool empty() const { return size() == 0; }
  int64_t affected() const;
  bool is_null(int row, std::string_view column) const;
  std::string text(int row, std::string_view column) const;  // "" for NULL
  std::optional<std::string> optional_text(int row, std::string_view column) const;
  int64_t integer(int row, std::string_view column) const;  // 0 for NULL
  std::optional<int64_t> optional_integer(int row, std::string_view column) const;
  bool boolean(int row, std::string_view column) const;
  std::string bytea(int row, std::string_view column) const;  // decoded from hex output

 private:
  int column(std::string_view name) const;
  std::unique_ptr<PGresult, decltype(&PQclear)> result_;
};

class Connection {
 public:
  static Result<Connection> connect(const std::string& url);

  // Runs one statement with text parameters ($1, $2, ...).
  Result<Rows> exec(std::string_view sql, const Params& params = {});
  // Runs a script of several statements without parameters (migrations).
  Status exec_script(std::string_view sql);
  // COPY ... FROM STDIN with `data` in COPY text format; returns the rows copied.
  Result<int64_t> copy_in(std::string_view copy_sql, std::string_view data);
  bool healthy() const { return conn_ && PQstatus(conn_.get()) == CONNECTION_OK; }
  PGconn* raw() { return conn_.get(); }

 private:
  explicit Connection(PGconn* conn) : conn_(conn, &PQfinish) {}
  Error error_from(PGresult* result) const;
  std::unique_ptr<PGconn, decltype(&PQfinish)> conn_;
};

// Appends `value` to `out` escaped for COPY text format (backslash, tab, newline, CR).
void append_copy_text(std::string& out, std::string_view value);

// Quotes an identifier ("my table" -> "\"my table\"").
std::string quote_identifier(std::string_view name);
// Quotes a string literal ("it's" -> "'it''s'"), for the rare statement that cannot take parameters.
std::string quote_literal(std::string_view value);

// SQLSTATE of a Postgres error message built by Connection ("" when unknown).
std::string sqlstate_of(const Error& error);

// Encodes bytes as a bytea hex literal parameter ("\x...").
std::string bytea_param(std::string_view bytes);

// Runs fn(conn) inside BEGIN/COMMIT; rolls back when fn fails or throws.
template <class Fn>
auto in_transaction(Connection& conn, Fn&& fn) -> decltype(fn(conn)) {
  if (auto begun = conn.exec("BEGIN"); !begun) return begun.take_error();
  try {
    auto result = fn(conn);
    if (!result) {
      (void)conn.exec("ROLLBACK");
      return result;
    }
    if (auto committed = conn.exec("COMMIT"); !committed) return committed.take_error();
    return result;
  } catch (...) {
    (void)conn.exec("ROLLBACK");
    throw;
  }
}

}  // namespace bp::pg
