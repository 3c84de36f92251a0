// bp_js_purge: empties one subject of a stream (a held pipe's part of the store) and reports how
// long nats-server took. The bench empties a pipe this way before each arm of the 100-record
// paired rounds, so that every arm starts from the same store; deleting the held destination
// instead takes nats-server seconds with millions of messages (stack.sh release_pipe).
#include <nats/nats.h>

#include <chrono>
#include <cstdio>
#include <string>

#include "bp/nats/client.h"

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: bp_js_purge NATS_URL STREAM SUBJECT\n");
    return 2;
  }
  std::string url = argv[1], stream = argv[2], subject = argv[3];
  auto client = bp::nats::Client::connect(url, "bp-js-purge");
  if (!client) {
    std::fprintf(stderr, "%s\n", client.error().message.c_str());
    return 1;
  }
  jsCtx* js = nullptr;
  if (natsConnection_JetStream(&js, (*client)->connection(), nullptr) != NATS_OK) {
    std::fprintf(stderr, "no JetStream context: %s\n", nats_GetLastError(nullptr));
    return 1;
  }
  jsOptions opts;
  jsOptions_Init(&opts);
  opts.Wait = 60000;
  opts.Stream.Purge.Subject = subject.c_str();
  jsErrCode code = static_cast<jsErrCode>(0);
  auto start = std::chrono::steady_clock::now();
  natsStatus s = js_PurgeStream(js, stream.c_str(), &opts, &code);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  jsCtx_Destroy(js);
  if (s != NATS_OK) {
    std::fprintf(stderr, "purge of %s in %s failed: %s (JetStream error %d)\n", subject.c_str(), stream.c_str(),
                 natsStatus_GetText(s), static_cast<int>(code));
    return 1;
  }
  std::printf("{\"purged\":\"%s\",\"seconds\":%.3f}\n", subject.c_str(), secs);
  return 0;
}
