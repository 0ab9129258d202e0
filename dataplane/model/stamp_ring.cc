// SPDX-License-Identifier: Apache-2.0
#include "dataplane/model/stamp_ring.h"

namespace traboule::dp {

const char* to_string(StampSendFailure f) noexcept {
  switch (f) {
    case StampSendFailure::kNone:
      return "none";
    case StampSendFailure::kNoSession:
      return "no_session";
    case StampSendFailure::kLinkDown:
      return "link_down";
    case StampSendFailure::kNoSource:
      return "no_source_address";
    case StampSendFailure::kNoRoute:
      return "no_route";
    case StampSendFailure::kNoNeighbor:
      return "next_hop_unresolved";
    case StampSendFailure::kNoMbuf:
      return "no_mbuf";
    case StampSendFailure::kBadLength:
      return "bad_length";
    case StampSendFailure::kClockUnset:
      return "clock_unset";
    case StampSendFailure::kQueueFull:
      return "request_queue_full";
  }
  return "?";
}

}  // namespace traboule::dp
