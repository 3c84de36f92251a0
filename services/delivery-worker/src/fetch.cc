#include "bp/delivery_worker/fetch.h"

namespace bp::delivery_worker {

natsStatus fetch_messages(natsSubscription* sub, int batch, std::chrono::milliseconds wait, std::vector<MsgPtr>& out) {
  auto fetch = [&](int n, std::chrono::milliseconds timeout) {
    natsMsgList list{};
    natsStatus s = natsSubscription_Fetch(&list, sub, n, timeout.count(), nullptr);
    for (int i = 0; i < list.Count; ++i) {
      out.emplace_back(list.Msgs[i]);
      list.Msgs[i] = nullptr;
    }
    natsMsgList_Destroy(&list);
    return s;
  };
  for (int queued = 0, bytes = 0; static_cast<int>(out.size()) < batch;) {
    if (natsSubscription_GetPending(sub, &queued, &bytes) != NATS_OK || queued == 0) break;
    if (fetch(1, std::chrono::milliseconds(10)) != NATS_OK) break;
  }
  if (!out.empty()) return NATS_OK;
  return fetch(batch, wait);
}

}  // namespace bp::delivery_worker
