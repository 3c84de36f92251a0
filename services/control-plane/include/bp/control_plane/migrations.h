// Schema migrations: numbered SQL files embedded at build time, applied in order at start-up.
#pragma once

#include <string>
#include <vector>

#include "bp/pg/connection.h"

namespace bp::control_plane {

struct Migration {
  int version;
  const char* name;
  const char* sql;
};

// Every migration in services/control-plane/migrations, ordered by version.
const std::vector<Migration>& migrations();

// Applies the migrations not applied yet, each in its own transaction, under a session advisory
// lock so that replicas starting together apply each one exactly once. Returns how many ran.
Result<int> migrate(pg::Connection& conn);

}  // namespace bp::control_plane
