// SPDX-License-Identifier: Apache-2.0
// main() for the GoogleTest binaries that need EAL: initialise it once, before any test.
#include <gtest/gtest.h>

#include "tests/testing/eal_env.h"

namespace {
class EalEnvironment : public ::testing::Environment {
 public:
  void SetUp() override { traboule::testing::init_test_eal(); }
  void TearDown() override { traboule::testing::cleanup_test_eal(); }
};
}  // namespace

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  ::testing::AddGlobalTestEnvironment(new EalEnvironment);
  return RUN_ALL_TESTS();
}
