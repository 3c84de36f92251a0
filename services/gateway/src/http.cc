// Response builders and header helpers shared by every handler.
#include "bp/gateway/http.h"

#include <algorithm>

#include "bp/json.h"

namespace bp::gateway {

Response json_response(http::status status, std::string body) {
  Response res{status, 11};
  res.set(http::field::content_type, "application/json");
  res.body() = std::move(body);
  return res;
}

Response error_response(http::status status, std::string_view code, std::string_view message) {
  return json_response(status, "{\"error\":" + json::quote(code) + ",\"message\":" + json::quote(message) + "}");
}

Response empty_response(http::status status) { return Response{status, 11}; }

void parse_buffered_body(RequestParser& parser, boost::beast::flat_buffer& buffer,
                         boost::system::error_code& ec) {
  if (parser.is_done() || buffer.size() == 0) return;
  parser.eager(true);
  buffer.consume(parser.put(buffer.data(), ec));
  if (ec == http::error::need_more) ec = {};
}

void make_room_for_body(const RequestParser& parser, boost::beast::flat_buffer& buffer,
                        size_t max_read) {
  auto left = parser.content_length_remaining();
  if (!left) return;
  buffer.reserve(buffer.size() + static_cast<size_t>(std::min<uint64_t>(*left, max_read)));
}

void write_response(const Response& res, std::string& out) {
  auto reason = res.reason();
  out.clear();
  out.reserve(128 + res.body().size());
  out.append("HTTP/").push_back(static_cast<char>('0' + res.version() / 10));
  out.push_back('.');
  out.push_back(static_cast<char>('0' + res.version() % 10));
  out.push_back(' ');
  out.append(std::to_string(res.result_int())).push_back(' ');
  out.append(reason.data(), reason.size()).append("\r\n");
  for (const auto& field : res) {
    auto name = field.name_string();
    auto value = field.value();
    out.append(name.data(), name.size()).append(": ").append(value.data(), value.size()).append("\r\n");
  }
  out.append("\r\n").append(res.body());
}

std::optional<std::string_view> find_header(const Request& req, http::field name) {
  for (const auto& field : req) {
    if (field.name() == name) return std::string_view(field.value().data(), field.value().size());
  }
  return std::nullopt;
}

namespace {

// Beast's ASCII case-insensitive comparison, for std::string_view.
bool iequals(std::string_view a, std::string_view b) {
  return boost::beast::iequals(boost::beast::string_view(a.data(), a.size()), boost::beast::string_view(b.data(), b.size()));
}

}  // namespace

std::optional<std::string_view> find_header(const Request& req, std::string_view name) {
  for (const auto& field : req) {
    if (iequals(std::string_view(field.name_string().data(), field.name_string().size()), name)) {
      return std::string_view(field.value().data(), field.value().size());
    }
  }
  return std::nullopt;
}

std::string_view bearer_token(const Request& req) {
  auto found = find_header(req, http::field::authorization);
  if (!found) return {};
  std::string_view value = *found;
  if (value.size() < 7 || !iequals(value.substr(0, 6), "bearer") || value[6] != ' ') return {};
  value.remove_prefix(7);
  while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  while (!value.empty() && value.back() == ' ') value.remove_suffix(1);
  return value;
}

bool is_json_content_type(std::string_view value) {
  auto semi = value.find(';');
  std::string_view type = value.substr(0, semi);
  while (!type.empty() && type.back() == ' ') type.remove_suffix(1);
  while (!type.empty() && type.front() == ' ') type.remove_prefix(1);
  return iequals(type, "application/json");
}

}  // namespace bp::gateway
