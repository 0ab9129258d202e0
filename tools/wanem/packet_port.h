// SPDX-License-Identifier: Apache-2.0
// One interface seen through an AF_PACKET socket: a TPACKET_V2 RX ring (one slot per frame,
// so poll() wakes per frame, unlike V3's block timer) in promiscuous mode, ignoring what the
// host itself sends, and plain send() for TX. Linux only; needs CAP_NET_RAW.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace traboule::wanem {

struct RxFrame {
  const uint8_t* data = nullptr;
  uint32_t captured_bytes = 0;        // bytes in the ring slot
  uint32_t wire_bytes = 0;            // the frame's length (larger than captured: truncated)
  int64_t kernel_ts_realtime_ns = 0;  // 0 if the kernel gave none
  bool csum_not_ready = false;        // TCP/UDP checksum left to offload (CHECKSUM_PARTIAL)
  bool has_vlan = false;              // the tag was taken off by the driver (VLAN offload)
  uint16_t vlan_tci = 0;
  uint16_t vlan_tpid = 0x8100;
};

class PacketPort {
 public:
  // Opens the port; throws std::runtime_error naming the interface and the failing step.
  // ring_bytes: memory of the RX ring (slots sized from the interface MTU, up to 9000+).
  PacketPort(const std::string& ifname, size_t ring_bytes);
  ~PacketPort();
  PacketPort(const PacketPort&) = delete;
  PacketPort& operator=(const PacketPort&) = delete;

  const std::string& name() const { return name_; }
  int fd() const { return fd_; }
  // The largest frame the ring slots hold (MTU + Ethernet header + two VLAN tags).
  uint32_t max_frame_bytes() const { return max_frame_bytes_; }

  // The next received frame, if any; it stays valid until release().
  bool peek(RxFrame* frame);
  void release();

  // Sends one complete Ethernet frame; returns 0 or the errno of the failure.
  int send(const uint8_t* data, uint32_t len);

  // Frames the kernel dropped because the ring was full, since the last call.
  uint64_t take_ring_drops();

 private:
  std::string name_;
  int fd_ = -1;
  int ifindex_ = 0;
  uint8_t* ring_ = nullptr;
  size_t ring_size_ = 0;
  uint32_t frame_size_ = 0;
  uint32_t frame_count_ = 0;
  uint32_t next_ = 0;
  uint32_t max_frame_bytes_ = 0;
};

}  // namespace traboule::wanem
