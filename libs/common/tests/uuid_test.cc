// UUID generation and validation.
#include <catch2/catch.hpp>

#include <set>

#include "bp/uuid.h"

TEST_CASE("uuid::v4 produces distinct canonical version-4 UUIDs") {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    auto id = bp::uuid::v4();
    REQUIRE(bp::uuid::is_valid(id));
    CHECK(id[14] == '4');
    CHECK((id[19] == '8' || id[19] == '9' || id[19] == 'a' || id[19] == 'b'));
    seen.insert(id);
  }
  CHECK(seen.size() == 1000);
}

TEST_CASE("uuid::is_valid accepts only the 8-4-4-4-12 hex form") {
  CHECK(bp::uuid::is_valid("123e4567-E89B-12d3-a456-426614174000"));
  CHECK_FALSE(bp::uuid::is_valid("123e4567e89b12d3a456426614174000"));
  CHECK_FALSE(bp::uuid::is_valid("123e4567-e89b-12d3-a456-42661417400g"));
  CHECK_FALSE(bp::uuid::is_valid("123e4567-e89b-12d3-a456-4266141740000"));
  CHECK_FALSE(bp::uuid::is_valid(""));
  // Hex digits only: letters past F, and the bytes a locale might call digits, are not.
  CHECK_FALSE(bp::uuid::is_valid("123e4567-e89b-12d3-a456-42661417400G"));
  CHECK_FALSE(bp::uuid::is_valid("123e4567-e89b-12d3-a456-42661417400\xb2"));
  CHECK(bp::uuid::normalize("ABCDEF00-0000-4000-8000-000000000000") == "abcdef00-0000-4000-8000-000000000000");
  char into[36];
  bp::uuid::normalize_to("ABCDEF00-0000-4000-8000-00000000000A", into);
  CHECK(std::string(into, sizeof into) == "abcdef00-0000-4000-8000-00000000000a");
}
