// Dead letters: listed from BP_DLQ page by page, replayed onto the pipe for one destination.
#include <charconv>

#include "bp/control_plane/management.h"
#include "bp/control_plane/validation.h"
#include "bp/crypto.h"

namespace bp::control_plane {
namespace {

std::string header(const nats::StoredMessage& m, const std::string& name) {
  auto it = m.headers.find(name);
  return it == m.headers.end() ? "" : it->second;
}

// Dead-letter cursors are the next stream sequence, opaque to clients.
Result<uint64_t> decode_sequence(const std::string& cursor) {
  if (cursor.empty()) return uint64_t{1};
  auto raw = crypto::base64_decode(cursor);
  uint64_t seq = 0;
  if (raw && raw->rfind("dlq:", 0) == 0) {
    auto [ptr, ec] = std::from_chars(raw->data() + 4, raw->data() + raw->size(), seq);
    if (ec == std::errc() && ptr == raw->data() + raw->size() && seq > 0) return seq;
  }
  return Error::invalid("Invalid cursor", {{"cursor", "is not a cursor returned by this API"}});
}

}  // namespace

Status Management::require_destination(const Caller& c, const std::string& pipe_id, const std::string& destination_id) {
  if (auto s = check_id("destination", destination_id); !s) return s;
  auto conn = pool_->acquire();
  if (!conn) return conn.take_error();
  if (auto s = require_pipe(**conn, c, pipe_id); !s) return s;
  auto rows = (*conn)->exec("SELECT 1 FROM destination WHERE id = $1 AND pipe_id = $2", {destination_id, pipe_id});
  if (!rows) return rows.take_error();
  if (rows->empty()) return Error::not_found("destination not found");
  return ok_status();
}

Result<v1::ListDeadLettersResponse> Management::list_dead_letters(const Caller& c, const v1::ListDeadLettersRequest& r) {
  auto limit = page_limit(r.limit());
  if (!limit) return limit.take_error();
  auto from = decode_sequence(r.cursor());
  if (!from) return from.take_error();
  if (auto s = require_destination(c, r.pipe_id(), r.destination_id()); !s) return s.take_error();
  auto messages = topology_->dead_letters(r.pipe_id(), r.destination_id(), *from, static_cast<size_t>(*limit) + 1);
  if (!messages) return messages.take_error();
  v1::ListDeadLettersResponse out;
  for (size_t i = 0; i < messages->size() && i < static_cast<size_t>(*limit); ++i) {
    const auto& m = (*messages)[i];
    auto* d = out.add_dead_letters();
    d->set_sequence(static_cast<int64_t>(m.sequence));
    d->set_record_id(header(m, "Bp-Record-Id"));
    d->set_received_at(header(m, "Bp-Received-At"));
    d->set_failed_at(header(m, "Bp-Failed-At"));
    d->set_attempts(std::strtoll(header(m, "Bp-Attempts").c_str(), nullptr, 10));
    d->set_error(header(m, "Bp-Error"));
    d->set_record_json(m.data);
  }
  if (messages->size() > static_cast<size_t>(*limit)) {
    out.set_next_cursor(crypto::base64_encode("dlq:" + std::to_string((*messages)[*limit].sequence)));
  }
  return out;
}

Result<v1::ReplayDeadLettersResponse> Management::replay_dead_letters(const Caller& c,
                                                                       const v1::ReplayDeadLettersRequest& r) {
  if (auto s = require_destination(c, r.pipe_id(), r.destination_id()); !s) return s.take_error();
  v1::ReplayDeadLettersResponse out;
  uint64_t from = 1;
  for (;;) {
    auto batch = topology_->dead_letters(r.pipe_id(), r.destination_id(), from, 500);
    if (!batch) return batch.take_error();
    if (batch->empty()) break;
    for (const auto& m : *batch) {
      if (auto s = topology_->replay(r.pipe_id(), r.destination_id(), m); !s) return s.take_error();
      out.set_replayed(out.replayed() + 1);
      from = m.sequence + 1;
    }
  }
  return out;
}

}  // namespace bp::control_plane
