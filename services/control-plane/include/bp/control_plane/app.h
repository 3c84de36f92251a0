// The control-plane process: settings, start-up order, serving, and clean shutdown.
#pragma once

#include <vector>

#include "bp/config.h"

namespace bp::control_plane {

const std::vector<config::Setting>& settings();

// `batchpipe-control-plane [serve|migrate|bootstrap] [--flags]`; returns the exit code.
int run(int argc, const char* const* argv);

}  // namespace bp::control_plane
