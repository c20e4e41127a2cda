// The one Catch2 main shared by every lab check (each labs/checks/weekNN_*.cpp is
// linked with it into its own executable, lab_weekNN).
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
