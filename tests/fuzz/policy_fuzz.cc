// SPDX-License-Identifier: Apache-2.0
// libFuzzer harness: `policy_fuzz corpus/policy` (see tests/fuzz/CMakeLists.txt).
#include <cstddef>
#include <cstdint>

#include "tests/fuzz/policy_fuzz_entry.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return traboule::cp::policy_fuzz_one(data, size);
}
