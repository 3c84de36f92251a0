// Catch2 entry point for the bp_crypto unit tests.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
