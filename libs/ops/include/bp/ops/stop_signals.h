// SIGTERM and SIGINT, handled the same way by every service: blocked in all threads from the
// start, then waited for by the main thread to begin a clean shutdown.
#pragma once

#include <signal.h>

namespace bp::ops {

class StopSignals {
 public:
  // Blocks the stop signals for this thread and every thread started after it: call first.
  StopSignals();
  // Waits for SIGTERM or SIGINT and returns its number.
  int wait() const;

 private:
  sigset_t set_;
};

}  // namespace bp::ops
