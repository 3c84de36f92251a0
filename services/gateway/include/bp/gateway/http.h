// HTTP types of the gateway and the one way responses are built (JSON bodies, error shape).
#pragma once

#include <optional>
#include <ostream>
#include <utility>

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <string>
#include <string_view>

namespace bp::gateway {

namespace http = boost::beast::http;
using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;

// A response with a JSON body (already serialized).
Response json_response(http::status status, std::string body);
// {"error": code, "message": message}
Response error_response(http::status status, std::string_view code, std::string_view message);
// An empty-bodied response (204, and preflight refusals).
Response empty_response(http::status status);

// After async_read_header: parses the part of the body already in `buffer` (usually all of it:
// it came in the same read as the header), so that only a body still on its way needs another
// asynchronous read. Beast's own read does the same put. need_more is not an error here.
void parse_buffered_body(http::request_parser<http::string_body>& parser, boost::beast::flat_buffer& buffer,
                         boost::system::error_code& ec);

// Before the rest of a body is read: room in `buffer` for it, up to `max_read` bytes. Beast asks
// the socket for as much as the buffer has room for (at least 512 bytes), and the body leaves the
// buffer as it comes, so the buffer does not grow by itself: a 30-KB body took about 60 reads
// (strace, 2026-12-07). A body without a Content-Length (chunked) gets no room.
void make_room_for_body(const http::request_parser<http::string_body>& parser, boost::beast::flat_buffer& buffer,
                        size_t max_read);

// The bytes Beast's serializer writes for `res` (start line, fields in order, blank line, body),
// into `out` (cleared first). prepare_payload() must have been called, as for Beast. One buffer
// and one write instead of the serializer's buffer sequences: it is on every request's path.
void write_response(const Response& res, std::string& out);

// The first value of a header, by a linear pass over the request's fields: a request has a
// handful, and Beast's own find() compares names case-insensitively down its tree on every call.
std::optional<std::string_view> find_header(const Request& req, http::field name);
// The same by name (any case), for headers Beast has no constant for.
std::optional<std::string_view> find_header(const Request& req, std::string_view name);

// "Bearer <token>" -> token; "" when absent or another scheme.
std::string_view bearer_token(const Request& req);
// True for application/json, any case, with or without parameters such as charset.
bool is_json_content_type(std::string_view value);

}  // namespace bp::gateway
