// The Bp-Requests header of an ingest message that carries several requests.
#include "bp/nats/ingest_message.h"

#include <charconv>

namespace bp::nats::ingest {

void append_request(std::string& header, std::string_view request_id, int64_t count, std::string_view received_at) {
  if (!header.empty()) header.push_back(',');
  char digits[24];
  auto end = std::to_chars(digits, digits + sizeof digits, count).ptr;
  header.append(request_id).push_back(' ');
  header.append(digits, end).push_back(' ');
  header.append(received_at);
}

std::optional<std::vector<RequestSpan>> parse_requests(std::string_view header) {
  std::vector<RequestSpan> out;
  while (true) {
    size_t comma = header.find(',');
    std::string_view entry = header.substr(0, comma);
    size_t first = entry.find(' ');
    if (first == std::string_view::npos) return std::nullopt;
    size_t second = entry.find(' ', first + 1);
    if (second == std::string_view::npos || entry.find(' ', second + 1) != std::string_view::npos) return std::nullopt;
    RequestSpan span;
    span.request_id = std::string(entry.substr(0, first));
    std::string_view count = entry.substr(first + 1, second - first - 1);
    span.received_at = std::string(entry.substr(second + 1));
    auto [end, ec] = std::from_chars(count.data(), count.data() + count.size(), span.count);
    if (ec != std::errc() || end != count.data() + count.size() || span.count <= 0 || span.request_id.empty() ||
        span.received_at.empty()) {
      return std::nullopt;
    }
    out.push_back(std::move(span));
    if (comma == std::string_view::npos) return out;
    header.remove_prefix(comma + 1);
  }
}

}  // namespace bp::nats::ingest
