// libpq calls, checked once here so the rest of the code sees Result values.
#include "bp/pg/connection.h"

#include <cstdlib>
#include <algorithm>
#include <cstring>

#include "bp/log.h"

namespace bp::pg {

int64_t Rows::affected() const {
  const char* n = PQcmdTuples(result_.get());
  return n && *n ? std::strtoll(n, nullptr, 10) : 0;
}

int Rows::column(std::string_view name) const {
  int c = PQfnumber(result_.get(), std::string(name).c_str());
  if (c < 0) throw std::logic_error("no column " + std::string(name) + " in result");
  return c;
}

bool Rows::is_null(int row, std::string_view name) const { return PQgetisnull(result_.get(), row, column(name)); }

std::string Rows::text(int row, std::string_view name) const {
  int c = column(name);
  return std::string(PQgetvalue(result_.get(), row, c), PQgetlength(result_.get(), row, c));
}

std::optional<std::string> Rows::optional_text(int row, std::string_view name) const {
  if (is_null(row, name)) return std::nullopt;
  return text(row, name);
}

int64_t Rows::integer(int row, std::string_view name) const {
  return std::strtoll(PQgetvalue(result_.get(), row, column(name)), nullptr, 10);
}

std::optional<int64_t> Rows::optional_integer(int row, std::string_view name) const {
  if (is_null(row, name)) return std::nullopt;
  return integer(row, name);
}

bool Rows::boolean(int row, std::string_view name) const {
  return PQgetvalue(result_.get(), row, column(name))[0] == 't';
}

std::string Rows::bytea(int row, std::string_view name) const {
  size_t len = 0;
  unsigned char* raw =
      PQunescapeBytea(reinterpret_cast<const unsigned char*>(PQgetvalue(result_.get(), row, column(name))), &len);
  if (!raw) return {};
  std::string out(reinterpret_cast<char*>(raw), len);
  PQfreemem(raw);
  return out;
}

Result<Connection> Connection::connect(const std::string& url) {
  PGconn* raw = PQconnectdb(url.c_str());
  Connection conn(raw);
  if (!raw || PQstatus(raw) != CONNECTION_OK) {
    std::string why = raw ? PQerrorMessage(raw) : "out of memory";
    while (!why.empty() && (why.back() == '\n' || why.back() == ' ')) why.pop_back();
    return Error::unavailable("cannot connect to Postgres: " + why);
  }
  // Server notices ("relation already exists, skipping") go to the debug log, not stderr.
  PQsetNoticeProcessor(
      raw, [](void*, const char* message) { log::debug("postgres notice", {{"notice", message}}); }, nullptr);
  return conn;
}

Error Connection::error_from(PGresult* result) const {
  std::string message = result ? PQresultErrorMessage(result) : PQerrorMessage(conn_.get());
  while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
  const char* state = result ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
  std::string sqlstate = state ? state : "";
  if (PQstatus(conn_.get()) != CONNECTION_OK || sqlstate.rfind("08", 0) == 0 || sqlstate.rfind("57P", 0) == 0) {
    return Error::unavailable("Postgres unavailable: " + message);
  }
  if (sqlstate == "23505") return Error::conflict(message);
  if (sqlstate == "23503") return Error::not_found(message);
  return Error::internal("Postgres error " + sqlstate + ": " + message);
}

Result<Rows> Connection::exec(std::string_view sql, const Params& params) {
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& p : params) values.push_back(p ? p->c_str() : nullptr);
  PGresult* result = PQexecParams(conn_.get(), std::string(sql).c_str(), static_cast<int>(params.size()), nullptr,
                                  values.data(), nullptr, nullptr, 0);
  ExecStatusType status = result ? PQresultStatus(result) : PGRES_FATAL_ERROR;
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    Error error = error_from(result);
    if (result) PQclear(result);
    return error;
  }
  return Rows(result);
}

Status Connection::exec_script(std::string_view sql) {
  PGresult* result = PQexec(conn_.get(), std::string(sql).c_str());
  ExecStatusType status = result ? PQresultStatus(result) : PGRES_FATAL_ERROR;
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    Error error = error_from(result);
    if (result) PQclear(result);
    return error;
  }
  PQclear(result);
  return ok_status();
}

Result<int64_t> Connection::copy_in(std::string_view copy_sql, std::string_view data) {
  PGresult* start = PQexec(conn_.get(), std::string(copy_sql).c_str());
  if (!start || PQresultStatus(start) != PGRES_COPY_IN) {
    Error error = error_from(start);
    if (start) PQclear(start);
    return error;
  }
  PQclear(start);
  constexpr size_t kChunk = 1 << 20;
  bool sent = true;
  for (size_t off = 0; off < data.size() && sent; off += kChunk) {
    size_t n = std::min(kChunk, data.size() - off);
    sent = PQputCopyData(conn_.get(), data.data() + off, static_cast<int>(n)) == 1;
  }
  PQputCopyEnd(conn_.get(), sent ? nullptr : "client failed to send data");
  PGresult* end = PQgetResult(conn_.get());
  Result<int64_t> out = int64_t{0};
  if (!end || PQresultStatus(end) != PGRES_COMMAND_OK) {
    out = error_from(end);
  } else {
    out = static_cast<int64_t>(std::strtoll(PQcmdTuples(end), nullptr, 10));
  }
  if (end) PQclear(end);
  while (PGresult* extra = PQgetResult(conn_.get())) PQclear(extra);
  return out;
}

void append_copy_text(std::string& out, std::string_view value) {
  // Runs of plain characters are appended whole (character by character, this was a good part
  // of a batch's cost on the client).
  size_t plain = 0;
  for (size_t i = 0; i < value.size(); ++i) {
    const char* escaped;
    switch (value[i]) {
      case '\\': escaped = "\\\\"; break;
      case '\t': escaped = "\\t"; break;
      case '\n': escaped = "\\n"; break;
      case '\r': escaped = "\\r"; break;
      default: continue;
    }
    out.append(value.data() + plain, i - plain);
    out.append(escaped, 2);
    plain = i + 1;
  }
  out.append(value.data() + plain, value.size() - plain);
}

std::string quote_identifier(std::string_view name) {
  std::string out = "\"";
  for (char c : name) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
  return out;
}

std::string quote_literal(std::string_view value) {
  std::string out = "'";
  for (char c : value) {
    if (c == '\'') out += '\'';
    out += c;
  }
  out += '\'';
  return out;
}

std::string sqlstate_of(const Error& error) {
  auto pos = error.message.find("Postgres error ");
  if (pos == std::string::npos) return "";
  return error.message.substr(pos + 15, 5);
}

std::string bytea_param(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "\\x";
  out.reserve(2 + bytes.size() * 2);
  for (unsigned char c : bytes) {
    out += kHex[c >> 4];
    out += kHex[c & 0x0f];
  }
  return out;
}

}  // namespace bp::pg
