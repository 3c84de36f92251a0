// The Bp-Requests header: what the gateway writes, the worker reads back; anything malformed
// is refused rather than read as something else.
#include <catch2/catch.hpp>

#include "bp/nats/ingest_message.h"

namespace ingest = bp::nats::ingest;

TEST_CASE("requests written into Bp-Requests read back in order") {
  std::string header;
  ingest::append_request(header, "8d0c6a3e-1b7f-4f0e-9a51-2b9c3d4e5f60", 1, "2026-12-06T04:00:00.123Z");
  ingest::append_request(header, "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9", 100, "2026-12-06T04:00:00.124Z");
  CHECK(header ==
        "8d0c6a3e-1b7f-4f0e-9a51-2b9c3d4e5f60 1 2026-12-06T04:00:00.123Z,"
        "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9 100 2026-12-06T04:00:00.124Z");
  auto spans = ingest::parse_requests(header);
  REQUIRE(spans);
  REQUIRE(spans->size() == 2);
  CHECK((*spans)[0].request_id == "8d0c6a3e-1b7f-4f0e-9a51-2b9c3d4e5f60");
  CHECK((*spans)[0].count == 1);
  CHECK((*spans)[0].received_at == "2026-12-06T04:00:00.123Z");
  CHECK((*spans)[1].request_id == "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9");
  CHECK((*spans)[1].count == 100);
  CHECK((*spans)[1].received_at == "2026-12-06T04:00:00.124Z");
}

TEST_CASE("a malformed Bp-Requests is refused") {
  for (const char* bad : {"", ",", "a 1", "a 1 t,", "a 0 t", "a -1 t", "a x t", "a 1x t", "a 1 t extra", " 1 t",
                          "a  t", "a 1 ", "a 1 t,,b 1 t", "a 99999999999999999999 t"}) {
    INFO(bad);
    CHECK_FALSE(ingest::parse_requests(bad));
  }
  CHECK(ingest::parse_requests("a 1 t"));
}
