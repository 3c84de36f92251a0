#include "bp/periodic.h"

namespace bp {

Periodic::Periodic(std::chrono::milliseconds every, std::function<bool()> task)
    : every_(every), task_(std::move(task)), thread_([this] { loop(); }) {}

Periodic::~Periodic() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void Periodic::loop() {
  std::unique_lock lock(mutex_);
  while (!wake_.wait_for(lock, every_, [this] { return stopping_; })) {
    lock.unlock();
    if (!task_()) return;
    lock.lock();
  }
}

}  // namespace bp
