// The NATS subjects the services share, named once: the control-plane creates and filters on
// them, the gateway publishes to them, the gateway and the worker listen on them.
#pragma once

#include <string>
#include <string_view>

namespace bp::nats {

// Change events (NATS core) that keep the gateway's and the worker's caches fresh.
inline constexpr const char* kChangeSubject = "bp.ctl.changed";

// The subject of a pipe's ingested records in the ingest stream: "bp.in.<pipe_id>".
inline std::string ingest_subject(std::string_view pipe_id) {
  std::string subject = "bp.in.";
  subject.append(pipe_id);
  return subject;
}

}  // namespace bp::nats
