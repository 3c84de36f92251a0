// Keyset pagination, newest first, shared by every list of the management API.
#pragma once

#include <optional>
#include <string>

#include "bp/pg/connection.h"

namespace bp::control_plane {

struct Page {
  pg::Rows rows;
  int count = 0;            // rows of this page (rows may hold one more, to detect a next page)
  std::string next_cursor;  // "" on the last page
};

// select: "SELECT ... FROM t x WHERE <scope with $1..$n>", whose columns include `id` and
// `cursor_us` (the order column in epoch microseconds). order_column/id_column: "x.created_at", "x.id".
Result<Page> fetch_page(pg::Connection& conn, std::string select, pg::Params params, const std::string& order_column,
                        const std::string& id_column, int requested_limit, const std::string& cursor);

}  // namespace bp::control_plane
