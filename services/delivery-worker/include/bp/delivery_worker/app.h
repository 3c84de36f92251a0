// The delivery-worker process: settings, start-up, and clean shutdown.
#pragma once

#include <vector>

#include "bp/config.h"

namespace bp::delivery_worker {

const std::vector<config::Setting>& settings();
int run(int argc, const char* const* argv);

}  // namespace bp::delivery_worker
