// Applies embedded migrations under an advisory lock, one transaction each.
#include "bp/control_plane/migrations.h"

#include "bp/log.h"

namespace bp::control_plane {
namespace {

// Any constant works as long as every replica uses the same one.
constexpr const char* kLockId = "7359814427180345601";

}  // namespace

Result<int> migrate(pg::Connection& conn) {
  if (auto locked = conn.exec("SELECT pg_advisory_lock($1::bigint)", {kLockId}); !locked) return locked.take_error();
  auto unlock = [&] { (void)conn.exec("SELECT pg_advisory_unlock($1::bigint)", {kLockId}); };

  auto created = conn.exec(
      "CREATE TABLE IF NOT EXISTS schema_migration ("
      " version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())");
  if (!created) {
    unlock();
    return created.take_error();
  }
  int applied = 0;
  for (const auto& m : migrations()) {
    auto done = conn.exec("SELECT 1 FROM schema_migration WHERE version = $1", {std::to_string(m.version)});
    if (!done) {
      unlock();
      return done.take_error();
    }
    if (!done->empty()) continue;
    auto ran = pg::in_transaction(conn, [&](pg::Connection& c) -> Status {
      if (auto s = c.exec_script(m.sql); !s) return s;
      auto recorded =
          c.exec("INSERT INTO schema_migration (version, name) VALUES ($1, $2)", {std::to_string(m.version), m.name});
      if (!recorded) return recorded.take_error();
      return ok_status();
    });
    if (!ran) {
      unlock();
      Error e = ran.take_error();
      e.message = std::string("migration ") + m.name + " failed: " + e.message;
      return e;
    }
    log::info("applied migration", {{"migration", m.name}});
    ++applied;
  }
  unlock();
  return applied;
}

}  // namespace bp::control_plane
