// The one Catch2 main for every test executable (compiled once: catch.hpp's main is slow to build).
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
