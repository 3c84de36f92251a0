// Stop signals: block everywhere, wait in one place.
#include "bp/ops/stop_signals.h"

#include <pthread.h>

namespace bp::ops {

StopSignals::StopSignals() {
  sigemptyset(&set_);
  sigaddset(&set_, SIGTERM);
  sigaddset(&set_, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set_, nullptr);
}

int StopSignals::wait() const {
  int signal = 0;
  sigwait(&set_, &signal);
  return signal;
}

}  // namespace bp::ops
