// Origin normalisation, which both the allowlist and the gateway's match rely on.
#include <catch2/catch.hpp>

#include "bp/origin.h"

using bp::origin::normalize;

TEST_CASE("origin::normalize lowercases and drops default ports") {
  CHECK(normalize("HTTPS://App.Example.com") == "https://app.example.com");
  CHECK(normalize("https://app.example.com:443") == "https://app.example.com");
  CHECK(normalize("http://localhost:80") == "http://localhost");
  CHECK(normalize("http://localhost:8080") == "http://localhost:8080");
  CHECK(normalize("https://app.example.com/") == "https://app.example.com");
  CHECK(normalize("http://[::1]:3000") == "http://[::1]:3000");
  CHECK(normalize("http://127.0.0.1:5173") == "http://127.0.0.1:5173");
}

TEST_CASE("origin::normalize refuses everything that is not an http(s) origin") {
  for (const char* bad : {"null", "file://", "chrome-extension://abcdef", "ftp://a.com", "https://", "https://a.com/path",
                          "https://user@a.com", "https://a.com:0", "https://a.com:70000", "https://a.com:",
                          "https://a.com?x=1", "a.com", "https://a com", "https://-a.com", "http://[zz]"}) {
    INFO(bad);
    CHECK_FALSE(normalize(bad).has_value());
  }
}
