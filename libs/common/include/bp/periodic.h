// A task run every interval on a thread of its own: lease renewals, the consumer reconcile.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

namespace bp {

class Periodic {
 public:
  // Runs `task` first one interval after construction, then one interval after each run ends,
  // until the task returns false or this object is destroyed. The destructor wakes the thread
  // and waits for a run in progress to end.
  Periodic(std::chrono::milliseconds every, std::function<bool()> task);
  ~Periodic();
  Periodic(const Periodic&) = delete;
  Periodic& operator=(const Periodic&) = delete;

 private:
  void loop();

  std::chrono::milliseconds every_;
  std::function<bool()> task_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;  // last: it starts once the members it uses exist
};

}  // namespace bp
