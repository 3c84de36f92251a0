// Fetching from a JetStream pull subscription (nats.c).
#pragma once

#include <nats/nats.h>

#include <chrono>
#include <memory>
#include <vector>

namespace bp::delivery_worker {

struct MsgDeleter {
  void operator()(natsMsg* m) const { natsMsg_Destroy(m); }
};
using MsgPtr = std::unique_ptr<natsMsg, MsgDeleter>;

// Fetches up to `batch` messages into `out`, waiting up to `wait` when none are there, around a
// heap overflow in nats.c 3.4's fetch (fixed upstream in 3.9, nats.c #749; Debian bookworm
// ships 3.4.1): a fetch that starts with more than half its batch already queued in the
// subscription (messages of an earlier fetch that arrived after it timed out) writes past its
// array. So whatever is queued is taken first, one message per fetch of one, which cannot
// overflow (it takes the one queued message and sends no pull request); only a subscription
// with nothing queued is fetched from in batches. NATS_OK with messages, or the fetch's status
// (NATS_TIMEOUT: none came).
natsStatus fetch_messages(natsSubscription* sub, int batch, std::chrono::milliseconds wait, std::vector<MsgPtr>& out);

}  // namespace bp::delivery_worker
