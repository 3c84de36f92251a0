// bp_js_latency: the buffer's own tail at a given rate. Publishes messages of BYTES to JetStream
// from one connection at a constant RATE for SECONDS (an open loop, on the load generator's
// 250-µs grid) and times each one's ack from its intended send time, as bp_loadgen times a
// request: the time a JetStream publish takes to be stored and acknowledged on this machine at
// that rate, with nothing of HTTP in it. The gateway cannot answer 202 before that ack, so its p99
// at the same rate is this one's plus its own.
//
// Each message is a request with a reply subject of its own (what js_PublishAsync does inside);
// the reply carries the message's number, so no table of pending messages is needed. Messages
// due in the first WARMUP_S seconds are published and acknowledged but kept out of the
// percentiles (bp_loadgen --warmup-s).
#include <nats/nats.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "bp/nats/client.h"
#include "open_loop.h"

namespace {

using Clock = std::chrono::steady_clock;
using bp::bench::percentile;

struct Run {
  Clock::time_point start;
  double rate = 0;
  std::vector<double> latency_ms;  // by message number; negative until acknowledged
  std::atomic<long> acked{0};
  std::atomic<long> failed{0};
  // Message i's intended send time: the schedule its latency counts from.
  Clock::time_point intended(long i) const {
    return start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(i / rate));
  }
};

const char* const kReplyPrefix = "_INBOX.bp-js-latency.";

void on_ack(natsConnection*, natsSubscription*, natsMsg* msg, void* closure) {
  auto* run = static_cast<Run*>(closure);
  auto now = Clock::now();
  const char* subject = natsMsg_GetSubject(msg);
  long i = std::strtol(subject + std::strlen(kReplyPrefix), nullptr, 10);
  // A PubAck is {"stream":...,"seq":...}; a failure {"error":{...}}; no stream on the subject an
  // empty message with a 503 status.
  const char* data = natsMsg_GetData(msg);
  int len = natsMsg_GetDataLength(msg);
  bool error = !data || len == 0 || std::string_view(data, static_cast<size_t>(len)).find("\"error\"") != std::string_view::npos;
  if (i >= 0 && static_cast<size_t>(i) < run->latency_ms.size()) {
    run->latency_ms[static_cast<size_t>(i)] = std::chrono::duration<double, std::milli>(now - run->intended(i)).count();
    if (error) ++run->failed;
    ++run->acked;
  }
  natsMsg_Destroy(msg);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 6) {
    std::fprintf(stderr, "usage: bp_js_latency NATS_URL SUBJECT BYTES RATE SECONDS [WARMUP_S=0]\n");
    return 2;
  }
  std::string url = argv[1], subject = argv[2];
  size_t bytes = std::stoul(argv[3]);
  double rate = std::stod(argv[4]), seconds = std::stod(argv[5]);
  double warmup_s = argc > 6 ? std::stod(argv[6]) : 0.0;
  if (rate <= 0 || seconds <= 0 || warmup_s < 0) {
    std::fprintf(stderr, "RATE and SECONDS must be positive, WARMUP_S not negative\n");
    return 2;
  }
  auto client = bp::nats::Client::connect(url, "bp-js-latency");
  if (!client) {
    std::fprintf(stderr, "%s\n", client.error().message.c_str());
    return 1;
  }
  natsConnection* nc = (*client)->connection();
  Run run;
  run.rate = rate;
  const long total = static_cast<long>(rate * (seconds + warmup_s));
  run.latency_ms.assign(static_cast<size_t>(total), -1.0);
  natsSubscription* sub = nullptr;
  if (natsConnection_Subscribe(&sub, nc, (std::string(kReplyPrefix) + ">").c_str(), on_ack, &run) != NATS_OK) {
    std::fprintf(stderr, "cannot subscribe to the replies: %s\n", nats_GetLastError(nullptr));
    return 1;
  }
  natsSubscription_SetPendingLimits(sub, -1, -1);
  natsConnection_Flush(nc);  // the subscription is in place before the first reply

  std::string payload(bytes, 'x');
  const auto grid = std::chrono::microseconds(250);
  run.start = Clock::now();
  long i = 0;
  char reply[64];
  while (i < total) {
    auto now = Clock::now();
    double elapsed = std::chrono::duration<double>(now - run.start).count();
    long due = std::min(total, static_cast<long>(elapsed * rate) + 1);
    for (; i < due; ++i) {
      std::snprintf(reply, sizeof reply, "%s%ld", kReplyPrefix, i);
      natsConnection_PublishRequest(nc, subject.c_str(), reply, payload.data(), static_cast<int>(payload.size()));
    }
    if (i < total) std::this_thread::sleep_until(bp::bench::on_grid(run.start, grid, run.intended(i)));
  }
  natsConnection_Flush(nc);
  auto deadline = Clock::now() + std::chrono::seconds(30);
  while (run.acked.load() < total && Clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  natsSubscription_Unsubscribe(sub);
  natsSubscription_Destroy(sub);

  const long warm = std::min(total, static_cast<long>(rate * warmup_s));
  std::vector<double> measured, warmup;
  long missing = 0;
  for (long k = 0; k < total; ++k) {
    double l = run.latency_ms[static_cast<size_t>(k)];
    if (l < 0) {
      ++missing;
      continue;
    }
    (k < warm ? warmup : measured).push_back(l);
  }
  std::sort(measured.begin(), measured.end());
  std::sort(warmup.begin(), warmup.end());
  std::printf("{\"bound\":\"jetstream_publish_latency\",\"bytes\":%zu,\"rate\":%.0f,\"seconds\":%.1f,\"messages\":%ld,"
              "\"acked\":%ld,\"missing\":%ld,\"failed\":%ld,\"p50_ms\":%.3f,\"p90_ms\":%.3f,\"p99_ms\":%.3f,"
              "\"p999_ms\":%.3f,\"max_ms\":%.3f,\"warmup_s\":%.1f,\"warmup_p99_ms\":%.3f}\n",
              bytes, rate, seconds, total, run.acked.load(), missing, run.failed.load(), percentile(measured, 50),
              percentile(measured, 90), percentile(measured, 99), percentile(measured, 99.9),
              measured.empty() ? 0 : measured.back(), warmup_s, percentile(warmup, 99));
  return missing == 0 && run.failed.load() == 0 ? 0 : 1;
}
