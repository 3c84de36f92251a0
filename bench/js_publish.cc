// bp_js_publish: the buffer's bound. Publishes N messages of the ingest payload size to
// JetStream asynchronously from one connection (as the gateway does) and reports msg/s. Publish
// on a pipe's subject that has a consumer, or the stream does less work than for real ingest.
// MESSAGES may be a duration instead ("5s"): publish for that long, as a closed loop of the load
// generator runs, and count the time until the last ack.
#include <nats/nats.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <string>

#include "bp/nats/client.h"

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: bp_js_publish NATS_URL SUBJECT BYTES [MESSAGES=200000 | SECONDSs] [MAX_PENDING=65536]\n");
    return 2;
  }
  std::string url = argv[1], subject = argv[2];
  size_t bytes = std::stoul(argv[3]);
  std::string count = argc > 4 ? argv[4] : "200000";
  bool timed = !count.empty() && count.back() == 's';
  long messages = timed ? std::numeric_limits<long>::max() : std::stol(count);
  auto duration = std::chrono::duration<double>(timed ? std::stod(count.substr(0, count.size() - 1)) : 0.0);
  long max_pending = argc > 5 ? std::stol(argv[5]) : 65536;
  auto client = bp::nats::Client::connect(url, "bp-js-publish");
  if (!client) {
    std::fprintf(stderr, "%s\n", client.error().message.c_str());
    return 1;
  }
  static std::atomic<long> failed{0};
  jsOptions opts;
  jsOptions_Init(&opts);
  opts.PublishAsync.MaxPending = max_pending;
  opts.PublishAsync.ErrHandler = [](jsCtx*, jsPubAckErr*, void*) { ++failed; };
  jsCtx* js = nullptr;
  natsConnection_JetStream(&js, (*client)->connection(), &opts);
  std::string payload(bytes, 'x');
  // BP_JS_LIKE_GATEWAY=1: each message also carries what the gateway adds (a Msg-Id for
  // deduplication and three Bp-* headers), to tell their cost from the publishing pattern's.
  const char* like = std::getenv("BP_JS_LIKE_GATEWAY");
  bool like_gateway = like && std::string(like) == "1";
  auto start = std::chrono::steady_clock::now();
  long i = 0;
  for (; i < messages; ++i) {
    if (timed && i % 256 == 0 && std::chrono::steady_clock::now() - start >= duration) break;
    if (like_gateway) {
      std::string id = "0b5f6f7e-4c1a-4a8e-9f3e-" + std::to_string(100000000000 + i);
      jsPubOptions po;
      jsPubOptions_Init(&po);
      po.MsgId = id.c_str();
      for (;;) {
        natsMsg* msg = nullptr;
        natsMsg_Create(&msg, subject.c_str(), nullptr, payload.data(), static_cast<int>(payload.size()));
        natsMsgHeader_Set(msg, "Bp-Request-Id", id.c_str());
        natsMsgHeader_Set(msg, "Bp-Received-At", "2026-11-24T10:00:00.000Z");
        natsMsgHeader_Set(msg, "Bp-Record-Count", "1");
        if (js_PublishMsgAsync(js, &msg, &po) == NATS_OK) break;
        natsMsg_Destroy(msg);
      }
      continue;
    }
    while (js_PublishAsync(js, subject.c_str(), payload.data(), static_cast<int>(payload.size()), nullptr) != NATS_OK) {
    }
  }
  jsPubOptions po;
  jsPubOptions_Init(&po);
  po.MaxWait = 60000;
  js_PublishAsyncComplete(js, &po);
  messages = i;
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (failed.load() > 0) std::fprintf(stderr, "warning: %ld publishes failed (is SUBJECT in a stream?)\n", failed.load());
  std::printf("{\"bound\":\"jetstream_async_publish\",\"bytes\":%zu,\"messages\":%ld,\"seconds\":%.3f,"
              "\"msg_per_s\":%.0f,\"mb_per_s\":%.2f,\"failed\":%ld}\n",
              bytes, messages, secs, messages / secs, messages * static_cast<double>(bytes) / secs / 1e6, failed.load());
  jsCtx_Destroy(js);
  return 0;
}
