// SPDX-License-Identifier: Apache-2.0
// One fuzz input through the whole policy pipeline (parse, validate, compile, hash, diff), with
// the invariants a compiled policy must hold checked on the way. Shared by the libFuzzer
// harness (clang, TRABOULE_FUZZ=ON) and the corpus replay test every build runs.
#pragma once

#include <cstddef>
#include <cstdint>

namespace traboule::cp {

// Aborts (after printing what broke) when an invariant does not hold; returns 0 otherwise.
int policy_fuzz_one(const uint8_t* data, size_t size);

}  // namespace traboule::cp
