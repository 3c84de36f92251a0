// POST/GET/OPTIONS /v1/ingest/:pipe_id, in seed 000's order: id, pipe, auth, origin, content
// type, body, publish.
#include <charconv>

#include "bp/clock.h"
#include "bp/crypto.h"
#include "bp/gateway/gateway.h"
#include "bp/gateway/ingest_rules.h"
#include "bp/json.h"
#include "bp/log.h"
#include "bp/nats/subjects.h"
#include "bp/uuid.h"

namespace bp::gateway {
namespace {

void allow_origin(Response& res, const std::string& origin) {
  res.set(http::field::vary, "Origin");
  if (origin.empty()) return;
  res.set(http::field::access_control_allow_origin, origin);
  // Browsers expose response headers to the page only when the actual response lists them.
  res.set(http::field::access_control_expose_headers, "X-Request-ID");
}

}  // namespace

std::string Gateway::client_address(const Request& req, const Peer& peer) const {
  if (options_.trust_forwarded_for) {
    if (auto xff = find_header(req, "X-Forwarded-For")) {
      std::string_view first = xff->substr(0, xff->find(','));
      while (!first.empty() && first.front() == ' ') first.remove_prefix(1);
      while (!first.empty() && first.back() == ' ') first.remove_suffix(1);
      if (!first.empty()) return std::string(first);
    }
  }
  return peer.address;
}

namespace {

// Ingest treats an inactive pipe as one that does not exist.
bool inactive(const Result<std::shared_ptr<const v1::Pipe>>& pipe) { return pipe && (*pipe)->status() == "inactive"; }

Result<std::shared_ptr<const v1::Pipe>> only_active(Result<std::shared_ptr<const v1::Pipe>> pipe) {
  if (inactive(pipe)) return Error::not_found("pipe is inactive");
  return pipe;
}

}  // namespace

boost::asio::awaitable<Result<std::shared_ptr<const v1::Pipe>>> Gateway::ingest_pipe(const std::string& pipe_id) {
  co_return only_active(co_await pipes_.get(uuid::normalize(pipe_id)));
}

Response Gateway::reject(unsigned status, const char* code, std::string message, bool cross_origin,
                         const std::string& echo) {
  ++rejected_;
  auto res = error_response(static_cast<http::status>(status), code, message);
  if (cross_origin) allow_origin(res, echo);
  return res;
}

boost::asio::awaitable<Response> Gateway::ingest_post(Request& req, const std::string& pipe_id,
                                                      const Peer& peer, const std::string& request_id) {
  // Both lookups are answered from memory on almost every request; only a miss or an expired
  // entry awaits the control-plane, in a coroutine of its own (its frame is paid for only then).
  IngestStep step;
  {
    IngestLookups looked;  // not kept in this frame: the check is done when the block ends
    step = ingest_checks(req, pipe_id, peer, request_id, looked);
  }
  if (needs_lookup(step)) co_await ingest_lookups(req, pipe_id, peer, request_id, step);
  if (auto* answer = std::get_if<Response>(&step)) co_return std::move(*answer);
  auto& admitted = std::get<Admitted>(step);
  int64_t records = admitted.publish.record_count;
  auto bytes = static_cast<int64_t>(admitted.publish.payload.size());
  auto outcome = co_await publisher_->publish(std::move(admitted.publish));
  co_return published(*admitted.pipe, outcome, records, bytes, request_id, admitted.echo, admitted.cross_origin);
}

// Awaits each lookup the caches could not answer from memory and checks again with its answer,
// until the checks have an answer or a message to publish. Each lookup is made at most once per
// request: its answer, found or not, is kept in `looked`, and a key miss brings the pipe the
// first pass found.
boost::asio::awaitable<void> Gateway::ingest_lookups(Request& req, const std::string& pipe_id,
                                                     const Peer& peer, const std::string& request_id,
                                                     IngestStep& step) {
  IngestLookups looked;
  while (needs_lookup(step)) {
    if (auto* need_pipe = std::get_if<NeedPipe>(&step)) {
      looked.pipe = co_await pipes_.get(need_pipe->id);
    } else {
      auto& need_key = std::get<NeedKey>(step);
      if (!looked.pipe) looked.pipe = std::move(need_key.pipe);
      looked.key = co_await keys_.get(need_key.hash);
    }
    step = ingest_checks(req, pipe_id, peer, request_id, looked);
  }
}

Gateway::IngestStep Gateway::ingest_checks(Request& req, const std::string& pipe_id, const Peer& peer,
                                           const std::string& request_id, IngestLookups& looked) {
  auto origin = find_header(req, http::field::origin);
  bool cross_origin = origin.has_value();
  if (!uuid::is_valid(pipe_id)) return reject(400, "invalid_pipe_id", "pipe_id must be a UUID", cross_origin);
  if (!looked.pipe) {
    char normalized[36];
    uuid::normalize_to(pipe_id, normalized);
    std::string_view id(normalized, sizeof normalized);
    looked.pipe = pipes_.fresh(id);
    if (!looked.pipe) return NeedPipe{std::string(id)};
  }
  const auto& pipe = *looked.pipe;
  if (!pipe && pipe.error().code != ErrorCode::kNotFound) {
    log::error("pipe lookup failed", {{"request_id", request_id}, {"error", pipe.error().message}});
    return reject(500, "server_error", "Could not look up the pipe", cross_origin);
  }
  if (!pipe || inactive(pipe)) {
    return reject(404, "pipe_not_found", "No active pipe with this id", cross_origin);
  }
  const v1::Pipe& p = **pipe;
  // Known before authentication so that a browser page can read why its request failed.
  OriginVerdict verdict = check_origin(p, origin);

  if (p.require_api_key()) {
    auto token = bearer_token(req);
    if (token.empty()) {
      return reject(401, "unauthorized", "Missing API key: send Authorization: Bearer <api_key>", cross_origin,
                    verdict.echo);
    }
    if (!looked.key) {
      char hex[64];
      crypto::sha256_hex_to(token, hex);
      std::string_view hash(hex, sizeof hex);
      looked.key = keys_.fresh(hash);
      if (!looked.key) return NeedKey{std::string(hash), pipe};
    }
    auto& key = *looked.key;
    if (!key) {
      if (key.error().code == ErrorCode::kNotFound) {
        return reject(401, "unauthorized", "Invalid API key", cross_origin, verdict.echo);
      }
      log::error("API key lookup failed", {{"request_id", request_id}, {"error", key.error().message}});
      return reject(500, "server_error", "Could not check the API key", cross_origin, verdict.echo);
    }
    // A valid key of another workspace is as good as no key here.
    if ((*key)->workspace_id != p.workspace_id()) {
      return reject(401, "unauthorized", "Invalid API key", cross_origin, verdict.echo);
    }
  } else if (auto refused = check_cors_only(p, origin)) {
    return reject(refused->status, refused->code.c_str(), refused->message, false);
  }
  if (!verdict.allowed) return reject(403, "forbidden", "Origin not allowed for this pipe", cross_origin);

  auto admitted = admit(req, p, peer, request_id, verdict.echo, cross_origin);
  if (auto* refused = std::get_if<Response>(&admitted)) return std::move(*refused);
  return Admitted{std::move(std::get<PublishRequest>(admitted)), *pipe, std::move(verdict.echo), cross_origin};
}

// After the lookups: limits, content type, the body, the idempotency key; the message to publish
// or the rejection.
std::variant<Response, PublishRequest> Gateway::admit(Request& req, const v1::Pipe& p, const Peer& peer,
                                                      const std::string& request_id, const std::string& echo,
                                                      bool cross_origin) {
  if (p.has_limits() && p.limits().has_pl_ingest_max_requests_per_second()) {
    // Per gateway process: N replicas accept up to N times the limit (docs/SECURITY.md).
    int64_t limit = p.limits().pl_ingest_max_requests_per_second();
    if (auto wait = ingest_rate_.take(p.id(), static_cast<double>(limit), ThrottleClock::now())) {
      auto res = reject(429, "rate_limited",
                        "This pipe accepts at most " + std::to_string(limit) +
                            " requests per second (pl_ingest_max_requests_per_second); retry later",
                        cross_origin, echo);
      res.set(http::field::retry_after, std::to_string(wait->count()));
      return res;
    }
  }

  auto content_type = find_header(req, http::field::content_type);
  if (!content_type || !is_json_content_type(*content_type)) {
    return reject(415, "unsupported_media_type", "Content-Type must be application/json", cross_origin, echo);
  }
  if (p.has_limits() && p.limits().has_pl_ingest_max_bytes_per_request() &&
      static_cast<int64_t>(req.body().size()) > p.limits().pl_ingest_max_bytes_per_request()) {
    return reject(413, "payload_too_large", "Body is larger than this pipe's pl_ingest_max_bytes_per_request",
                  cross_origin, echo);
  }

  std::string received_at = clock::now_rfc3339();
  std::string client_ip;
  if (!p.enrich_client_ip_field().empty()) client_ip = client_address(req, peer);
  Enrichment enrichment{p.enrich_ingest_timestamp_field(), received_at, p.enrich_client_ip_field(), client_ip};
  std::optional<int64_t> max_records;
  if (p.has_limits() && p.limits().has_pl_ingest_max_records_per_request()) {
    max_records = p.limits().pl_ingest_max_records_per_request();
  }
  // The body is given up here: nothing after the checks reads it, and a 100-record array leaves
  // in its buffer, uncopied.
  auto prepared = prepare_owned_records(std::move(req.body()), enrichment, max_records, options_.max_json_depth);
  if (auto* refused = std::get_if<Rejection>(&prepared)) {
    return reject(refused->status, refused->code.c_str(), refused->message, cross_origin, echo);
  }
  auto& records = std::get<PreparedRecords>(prepared);

  PublishRequest publish;
  publish.subject = nats::ingest_subject(p.id());
  publish.request_id = request_id;
  publish.received_at = std::move(received_at);  // the enrichment that viewed it is done
  publish.record_count = records.count;
  if (p.has_limits() && p.limits().has_pl_delivery_max_records()) {
    publish.batch_max_records = p.limits().pl_delivery_max_records();
  }
  if (p.has_limits() && p.limits().has_pl_delivery_max_bytes()) {
    publish.batch_max_bytes = p.limits().pl_delivery_max_bytes();
  }
  auto idempotency = find_header(req, "Idempotency-Key");
  if (!idempotency) idempotency = find_header(req, "X-Idempotency-Key");
  if (idempotency && !valid_idempotency_key(*idempotency)) {
    return reject(400, "invalid_payload", "Idempotency-Key must be 1 to 255 visible ASCII characters", cross_origin,
                  echo);
  }
  // Only an idempotency key makes a message id: a request id is new on every request and the
  // gateway never publishes a request twice, so as a Nats-Msg-Id it would only fill the
  // stream's duplicate window (decision 0009).
  if (idempotency) publish.msg_id = p.id() + ":" + std::string(*idempotency);
  if (static_cast<int64_t>(records.json.size()) > publisher_->max_payload()) {
    return reject(413, "payload_too_large",
                  "The records are larger than the buffer's message limit (" +
                      std::to_string(publisher_->max_payload()) + " bytes); send them in smaller requests",
                  cross_origin, echo);
  }
  publish.payload = std::move(records.json);
  return publish;
}

// The answer once the stream has (or has not) taken the message.
Response Gateway::published(const v1::Pipe& p, const PublishOutcome& outcome, int64_t records, int64_t bytes,
                            const std::string& request_id, const std::string& echo, bool cross_origin) {
  if (!outcome.stored) {
    ++publish_failures_;
    log::warn("publish failed", {{"request_id", request_id}, {"pipe_id", p.id()}, {"error", outcome.error}});
    auto res = json_response(http::status::service_unavailable,
                             R"({"error":"buffer_unavailable","message":"Could not enqueue the records; safe to retry",)"
                             R"("request_id":)" + json::quote(request_id) + "}");
    if (cross_origin) allow_origin(res, echo);
    return res;
  }
  ++accepted_;
  records_ += static_cast<uint64_t>(records);
  bytes_ += static_cast<uint64_t>(bytes);
  if (!outcome.duplicate) usage_->record(p.id(), records, bytes);
  // One buffer for the whole body: it is written for every accepted request. String views, not
  // C strings: append(const char*) measures its argument on every call.
  using namespace std::string_view_literals;
  std::string body;
  body.reserve(192 + p.name().size());
  body.append(R"({"accepted":true,"pipe_id":)"sv);
  json::quote_to(body, p.id());
  body.append(R"(,"pipe_name":)"sv);
  json::quote_to(body, p.name());
  char count[24];
  auto count_end = std::to_chars(count, count + sizeof count, records).ptr;
  body.append(R"(,"records_count":)"sv).append(count, count_end).append(R"(,"request_id":)"sv);
  json::quote_to(body, request_id);
  body.append(R"(,"message":"Records accepted for processing")"sv).append(outcome.duplicate ? R"(,"duplicate":true})"sv : "}"sv);
  auto res = json_response(http::status::accepted, std::move(body));
  if (cross_origin) allow_origin(res, echo);
  return res;
}

boost::asio::awaitable<Response> Gateway::ingest_get(const std::string& pipe_id) {
  if (!uuid::is_valid(pipe_id)) {
    co_return error_response(http::status::bad_request, "invalid_pipe_id", "pipe_id must be a UUID");
  }
  auto pipe = co_await ingest_pipe(pipe_id);
  if (!pipe) {
    if (pipe.error().code == ErrorCode::kNotFound) {
      co_return error_response(http::status::not_found, "pipe_not_found", "No active pipe with this id");
    }
    co_return error_response(http::status::internal_server_error, "server_error", "Could not look up the pipe");
  }
  co_return json_response(
      http::status::ok,
      "{\"pipe_id\":" + json::quote((*pipe)->id()) + ",\"pipe_name\":" + json::quote((*pipe)->name()) +
          ",\"message\":\"This URL ingests records: send them with POST and a JSON body (one object or an array of "
          "objects)\",\"method\":\"POST\",\"content_type\":\"application/json\"}");
}

boost::asio::awaitable<Response> Gateway::ingest_options(const Request& req, const std::string& pipe_id) {
  auto origin = find_header(req, http::field::origin);
  if (!origin || !uuid::is_valid(pipe_id)) co_return empty_response(http::status::bad_request);
  auto pipe = co_await ingest_pipe(pipe_id);
  if (!pipe) {
    co_return empty_response(pipe.error().code == ErrorCode::kNotFound ? http::status::not_found
                                                                        : http::status::internal_server_error);
  }
  const v1::Pipe& p = **pipe;
  OriginVerdict verdict = check_origin(p, origin);
  // A preflight needs an explicit grant: the allowlist or "any browser origin".
  if (!verdict.allowed || verdict.echo.empty()) {
    auto res = empty_response(http::status::forbidden);
    res.set(http::field::vary, "Origin");
    co_return res;
  }
  auto res = empty_response(http::status::no_content);
  allow_origin(res, verdict.echo);
  res.set(http::field::access_control_allow_methods, "POST, GET, OPTIONS");
  std::string headers = "Content-Type, Idempotency-Key, X-Idempotency-Key, X-Request-ID";
  if (p.require_api_key()) headers += ", Authorization";
  res.set(http::field::access_control_allow_headers, headers);
  res.set(http::field::access_control_max_age, "600");
  res.set(http::field::access_control_expose_headers, "X-Request-ID");
  co_return res;
}

}  // namespace bp::gateway
