// SPDX-License-Identifier: Apache-2.0
#include "tools/wanem/packet_port.h"

#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace traboule::wanem {
namespace {

#ifndef PACKET_IGNORE_OUTGOING
constexpr int PACKET_IGNORE_OUTGOING = 23;  // Linux 4.20; older kernels: pkttype is checked
#endif

constexpr uint32_t kBlockBytes = 1 << 16;
constexpr uint32_t kVlanTagsBytes = 8;  // room for QinQ

uint32_t round_up_pow2(uint32_t x) {
  uint32_t p = 1;
  while (p < x) p <<= 1;
  return p;
}

[[noreturn]] void fail(const std::string& ifname, const std::string& step, int err) {
  throw std::runtime_error("interface " + ifname + ": " + step + ": " + std::strerror(err));
}

}  // namespace

PacketPort::PacketPort(const std::string& ifname, size_t ring_bytes) : name_(ifname) {
  if (ifname.empty() || ifname.size() >= IFNAMSIZ) {
    throw std::runtime_error("bad interface name \"" + ifname + "\": must be 1 to " +
                             std::to_string(IFNAMSIZ - 1) + " characters");
  }
  ifindex_ = static_cast<int>(if_nametoindex(ifname.c_str()));
  if (ifindex_ == 0) fail(ifname, "not found in this network namespace", errno);

  // Protocol 0: nothing is queued before the ring exists and the socket is bound.
  fd_ = ::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
  if (fd_ < 0) fail(ifname, "socket(AF_PACKET) (needs CAP_NET_RAW)", errno);
  try {
    ifreq ifr{};
    std::memcpy(ifr.ifr_name, ifname.c_str(), ifname.size());
    if (ioctl(fd_, SIOCGIFFLAGS, &ifr) < 0) fail(ifname, "SIOCGIFFLAGS", errno);
    if (!(ifr.ifr_flags & IFF_UP)) {
      throw std::runtime_error("interface " + ifname + " is down (ip link set " + ifname + " up)");
    }
    if (ioctl(fd_, SIOCGIFMTU, &ifr) < 0) fail(ifname, "SIOCGIFMTU", errno);
    uint32_t mtu = static_cast<uint32_t>(ifr.ifr_mtu);
    if (mtu > 65535 - ETH_HLEN - kVlanTagsBytes) mtu = 65535 - ETH_HLEN - kVlanTagsBytes;
    max_frame_bytes_ = mtu + ETH_HLEN + kVlanTagsBytes;

    int version = TPACKET_V2;
    if (setsockopt(fd_, SOL_PACKET, PACKET_VERSION, &version, sizeof version) < 0) {
      fail(ifname, "PACKET_VERSION TPACKET_V2", errno);
    }
    // The kernel puts the MAC header at TPACKET_ALIGN(hdrlen + 16) - 14 (< 128) in each slot.
    frame_size_ = round_up_pow2(max_frame_bytes_ + 128);
    uint32_t block_bytes = frame_size_ > kBlockBytes ? frame_size_ : kBlockBytes;
    uint32_t blocks = static_cast<uint32_t>(ring_bytes / block_bytes);
    if (blocks < 4) blocks = 4;
    tpacket_req req{};
    req.tp_block_size = block_bytes;
    req.tp_block_nr = blocks;
    req.tp_frame_size = frame_size_;
    req.tp_frame_nr = blocks * (block_bytes / frame_size_);
    if (setsockopt(fd_, SOL_PACKET, PACKET_RX_RING, &req, sizeof req) < 0) {
      fail(ifname, "PACKET_RX_RING", errno);
    }
    frame_count_ = req.tp_frame_nr;
    ring_size_ = static_cast<size_t>(block_bytes) * blocks;
    void* ring = mmap(nullptr, ring_size_, PROT_READ | PROT_WRITE, MAP_SHARED, fd_, 0);
    if (ring == MAP_FAILED) fail(ifname, "mmap of the RX ring", errno);
    ring_ = static_cast<uint8_t*>(ring);

    int one = 1;
    // Best effort: older kernels lack it, and peek() also skips PACKET_OUTGOING frames.
    (void)setsockopt(fd_, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one);
    // Departures come in bursts (many frames due at once after a pause): room to queue them.
    int sndbuf = 4 << 20;
    if (setsockopt(fd_, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof sndbuf) < 0) {
      (void)setsockopt(fd_, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    }

    sockaddr_ll addr{};
    addr.sll_family = AF_PACKET;
    addr.sll_protocol = htons(ETH_P_ALL);
    addr.sll_ifindex = ifindex_;
    if (bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) fail(ifname, "bind", errno);

    packet_mreq mreq{};
    mreq.mr_ifindex = ifindex_;
    mreq.mr_type = PACKET_MR_PROMISC;
    if (setsockopt(fd_, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mreq, sizeof mreq) < 0) {
      fail(ifname, "PACKET_MR_PROMISC", errno);
    }
  } catch (...) {
    if (ring_) munmap(ring_, ring_size_);
    ::close(fd_);
    throw;
  }
}

PacketPort::~PacketPort() {
  if (ring_) munmap(ring_, ring_size_);
  if (fd_ >= 0) ::close(fd_);
}

bool PacketPort::peek(RxFrame* frame) {
  while (true) {
    auto* hdr = reinterpret_cast<tpacket2_hdr*>(ring_ + static_cast<size_t>(next_) * frame_size_);
    uint32_t status = __atomic_load_n(&hdr->tp_status, __ATOMIC_ACQUIRE);
    if (!(status & TP_STATUS_USER)) return false;
    auto* sll = reinterpret_cast<const sockaddr_ll*>(reinterpret_cast<const uint8_t*>(hdr) +
                                                     TPACKET_ALIGN(sizeof(tpacket2_hdr)));
    if (sll->sll_pkttype == PACKET_OUTGOING) {
      release();
      continue;
    }
    frame->data = reinterpret_cast<const uint8_t*>(hdr) + hdr->tp_mac;
    frame->captured_bytes = hdr->tp_snaplen;
    frame->wire_bytes = hdr->tp_len;
    frame->kernel_ts_realtime_ns =
        static_cast<int64_t>(hdr->tp_sec) * 1'000'000'000 + static_cast<int64_t>(hdr->tp_nsec);
    frame->csum_not_ready = (status & TP_STATUS_CSUMNOTREADY) != 0;
    frame->has_vlan = (status & TP_STATUS_VLAN_VALID) != 0;
    frame->vlan_tci = hdr->tp_vlan_tci;
    frame->vlan_tpid = (status & TP_STATUS_VLAN_TPID_VALID) ? hdr->tp_vlan_tpid : 0x8100;
    return true;
  }
}

void PacketPort::release() {
  auto* hdr = reinterpret_cast<tpacket2_hdr*>(ring_ + static_cast<size_t>(next_) * frame_size_);
  __atomic_store_n(&hdr->tp_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
  next_ = next_ + 1 == frame_count_ ? 0 : next_ + 1;
}

int PacketPort::send(const uint8_t* data, uint32_t len) {
  while (true) {
    ssize_t n = ::send(fd_, data, len, 0);
    if (n >= 0) return 0;
    if (errno != EINTR) return errno;
  }
}

uint64_t PacketPort::take_ring_drops() {
  tpacket_stats stats{};
  socklen_t len = sizeof stats;
  if (getsockopt(fd_, SOL_PACKET, PACKET_STATISTICS, &stats, &len) < 0) return 0;
  return stats.tp_drops;
}

}  // namespace traboule::wanem
