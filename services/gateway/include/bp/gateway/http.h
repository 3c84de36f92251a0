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

// A request body read into a std::string, as Beast's string_body reads it, less one pass over it:
// string_body's reader makes room for each piece with resize(), which writes zeros over the
// room before the piece is copied in (on 2026-12-07, 3.4% of the gateway's CPU with 100-record
// bodies). This reader reserves the Content-Length and appends. Writing (tests, clients) is
// string_body's.
struct RequestBody : http::string_body {
  class reader {
   public:
    template <bool isRequest, class Fields>
    reader(http::header<isRequest, Fields>&, value_type& body) : body_(body) {}

    void init(const boost::optional<std::uint64_t>& length, boost::system::error_code& ec) {
      if (length) {
        if (*length > body_.max_size()) {
          ec = http::error::buffer_overflow;
          return;
        }
        body_.reserve(static_cast<size_t>(*length));
      }
      ec = {};
    }

    template <class ConstBufferSequence>
    std::size_t put(const ConstBufferSequence& buffers, boost::system::error_code& ec) {
      size_t n = 0;
      for (auto b : boost::beast::buffers_range_ref(buffers)) {
        if (b.size() > body_.max_size() - body_.size()) {
          ec = http::error::buffer_overflow;
          return n;
        }
        body_.append(static_cast<const char*>(b.data()), b.size());
        n += b.size();
      }
      ec = {};
      return n;
    }

    void finish(boost::system::error_code& ec) { ec = {}; }

   private:
    value_type& body_;
  };
};

using Request = http::request<RequestBody>;
using RequestParser = http::request_parser<RequestBody>;
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
void parse_buffered_body(RequestParser& parser, boost::beast::flat_buffer& buffer,
                         boost::system::error_code& ec);

// Before the rest of a body is read: room in `buffer` for it, up to `max_read` bytes. Beast asks
// the socket for as much as the buffer has room for (at least 512 bytes), and the body leaves the
// buffer as it comes, so the buffer does not grow by itself: a 30-KB body took about 60 reads
// (strace, 2026-12-07). A body without a Content-Length (chunked) gets no room.
void make_room_for_body(const RequestParser& parser, boost::beast::flat_buffer& buffer,
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
