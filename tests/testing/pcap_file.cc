// SPDX-License-Identifier: Apache-2.0
#include "tests/testing/pcap_file.h"

#include <pcap/pcap.h>

#include <cstdio>
#include <memory>

namespace traboule::testing {
namespace {

constexpr long kEpochS = 1767225600;  // 2026-01-01 00:00:00 UTC
constexpr int kSnapLen = 65535;

struct PcapClose {
  void operator()(pcap_t* p) const noexcept { pcap_close(p); }
};
struct DumperClose {
  void operator()(pcap_dumper_t* d) const noexcept { pcap_dump_close(d); }
};
using Pcap = std::unique_ptr<pcap_t, PcapClose>;
using Dumper = std::unique_ptr<pcap_dumper_t, DumperClose>;

template <typename Bytes>
bool write_frames(const std::string& path, const std::vector<Bytes>& frames, long step_us,
                  const uint8_t* (*data)(const Bytes&), size_t (*size)(const Bytes&)) {
  Pcap dead(pcap_open_dead(DLT_EN10MB, kSnapLen));
  if (!dead) {
    std::fprintf(stderr, "cannot write %s: pcap_open_dead failed\n", path.c_str());
    return false;
  }
  Dumper d(pcap_dump_open(dead.get(), path.c_str()));
  if (!d) {
    std::fprintf(stderr, "cannot write %s: %s\n", path.c_str(), pcap_geterr(dead.get()));
    return false;
  }
  long us = 0;
  for (const Bytes& f : frames) {
    us += step_us;
    pcap_pkthdr h{};
    h.ts.tv_sec = kEpochS + us / 1000000;
    h.ts.tv_usec = us % 1000000;
    h.caplen = h.len = static_cast<bpf_u_int32>(size(f));
    pcap_dump(reinterpret_cast<u_char*>(d.get()), &h, data(f));
  }
  if (pcap_dump_flush(d.get()) != 0) {
    std::fprintf(stderr, "cannot write %s: flush failed\n", path.c_str());
    return false;
  }
  return true;
}

}  // namespace

bool write_pcap(const std::string& path, const std::vector<std::vector<uint8_t>>& frames,
                long step_us) {
  return write_frames<std::vector<uint8_t>>(
      path, frames, step_us, [](const std::vector<uint8_t>& b) { return b.data(); },
      [](const std::vector<uint8_t>& b) { return b.size(); });
}

bool write_pcap(const std::string& path, const std::vector<Frame>& frames, long step_us) {
  return write_frames<Frame>(
      path, frames, step_us, [](const Frame& f) -> const uint8_t* { return f.bytes.data(); },
      [](const Frame& f) { return f.bytes.size(); });
}

bool read_pcap(const std::string& path, std::vector<std::vector<uint8_t>>* frames) {
  char err[PCAP_ERRBUF_SIZE] = {};
  Pcap p(pcap_open_offline(path.c_str(), err));
  if (!p) {
    std::fprintf(stderr, "cannot read %s: %s\n", path.c_str(), err);
    return false;
  }
  pcap_pkthdr* h = nullptr;
  const u_char* data = nullptr;
  int rc;
  while ((rc = pcap_next_ex(p.get(), &h, &data)) == 1) {
    if (h->caplen != h->len) {
      std::fprintf(stderr, "%s: a record of %u bytes holds only %u\n", path.c_str(), h->len,
                   h->caplen);
      return false;
    }
    frames->emplace_back(data, data + h->caplen);
  }
  if (rc != PCAP_ERROR_BREAK) {
    std::fprintf(stderr, "%s: %s\n", path.c_str(), pcap_geterr(p.get()));
    return false;
  }
  return true;
}

}  // namespace traboule::testing
