// Keyset pagination: (order column, id) below the cursor, one extra row to know if more follow.
#include "pagination.h"

#include <algorithm>

#include "bp/control_plane/validation.h"

namespace bp::control_plane {

Result<Page> fetch_page(pg::Connection& conn, std::string select, pg::Params params, const std::string& order_column,
                        const std::string& id_column, int requested_limit, const std::string& cursor) {
  auto limit = page_limit(requested_limit);
  if (!limit) return limit.take_error();
  auto position = decode_cursor(cursor);
  if (!position) return position.take_error();
  auto next = [&params] {
    std::string placeholder = "$";
    placeholder += std::to_string(params.size());
    return placeholder;
  };
  if (*position) {
    params.push_back((*position)->created_at_us);
    std::string us = next();
    params.push_back((*position)->id);
    select += " AND (" + order_column + ", " + id_column + ") < ('epoch'::timestamptz + " + us +
              "::bigint * interval '1 microsecond', " + next() + "::uuid)";
  }
  params.push_back(std::to_string(*limit + 1));
  select += " ORDER BY " + order_column + " DESC, " + id_column + " DESC LIMIT " + next();
  auto rows = conn.exec(select, params);
  if (!rows) return rows.take_error();
  Page page{std::move(rows).value(), 0, ""};
  page.count = std::min(page.rows.size(), *limit);
  if (page.rows.size() > *limit) {
    page.next_cursor = encode_cursor({page.rows.text(page.count - 1, "cursor_us"), page.rows.text(page.count - 1, "id")});
  }
  return page;
}

}  // namespace bp::control_plane
