// SPDX-License-Identifier: Apache-2.0
// main() for the per-stage Google Benchmarks: EAL without hugepages, like the unit tests, so
// each stage is timed on the same crafted packets its table test uses.
#include <benchmark/benchmark.h>

#include "tests/testing/eal_env.h"

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  traboule::testing::init_test_eal();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  traboule::testing::cleanup_test_eal();
  return 0;
}
