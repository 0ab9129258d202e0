// SPDX-License-Identifier: Apache-2.0
// Ethernet captures for the test generators (golden inputs, application captures, STAMP
// packets), through libpcap: one writer, one reader, handles released on every path.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tests/testing/packet_builder.h"

namespace traboule::testing {

// Writes `frames` to `path` (pcap, Ethernet, microsecond stamps): the first at a fixed
// time (2026-01-01 00:00:00 UTC) + step_us, each next step_us later, so a capture is the same
// bytes on every run. False, with the reason on stderr, when the file cannot be written.
bool write_pcap(const std::string& path, const std::vector<std::vector<uint8_t>>& frames,
                long step_us);
bool write_pcap(const std::string& path, const std::vector<Frame>& frames, long step_us);

// Appends every record of the capture at `path` (any byte order or time precision libpcap
// reads) to `frames`. False, with the reason on stderr, when it cannot be read; records cut
// short by the capture's snap length are refused too (a test needs whole frames).
bool read_pcap(const std::string& path, std::vector<std::vector<uint8_t>>* frames);

}  // namespace traboule::testing
