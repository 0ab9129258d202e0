// SPDX-License-Identifier: Apache-2.0
#include "tests/testing/packet_builder.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>

#include "dataplane/graph/mbuf_meta.h"

namespace traboule::testing {
namespace {

void put16(std::vector<uint8_t>& v, size_t off, uint16_t x) {
  v[off] = static_cast<uint8_t>(x >> 8);
  v[off + 1] = static_cast<uint8_t>(x);
}
void app16(std::vector<uint8_t>& v, uint16_t x) {
  v.push_back(static_cast<uint8_t>(x >> 8));
  v.push_back(static_cast<uint8_t>(x));
}
void app32(std::vector<uint8_t>& v, uint32_t x) {
  app16(v, static_cast<uint16_t>(x >> 16));
  app16(v, static_cast<uint16_t>(x));
}
void app_bytes(std::vector<uint8_t>& v, const uint8_t* p, size_t n) {
  v.insert(v.end(), p, p + n);
}

std::vector<uint8_t> addr_bytes(std::string_view text, int af) {
  std::string s(text);
  uint8_t buf[16];
  if (inet_pton(af, s.c_str(), buf) != 1) throw std::invalid_argument("bad address " + s);
  return {buf, buf + (af == AF_INET ? 4 : 16)};
}

uint32_t sum16(const uint8_t* p, size_t n, uint32_t acc = 0) {
  for (size_t i = 0; i + 1 < n; i += 2) acc += static_cast<uint32_t>(p[i] << 8 | p[i + 1]);
  if (n & 1) acc += static_cast<uint32_t>(p[n - 1] << 8);
  return acc;
}
uint16_t fold(uint32_t acc) {
  while (acc >> 16) acc = (acc & 0xffff) + (acc >> 16);
  return static_cast<uint16_t>(~acc);
}

}  // namespace

void Frame::fix_ipv4_checksum() {
  size_t ihl = (bytes.at(l3_off) & 0x0f) * 4u;
  set16(l3_off + 10, 0);
  if (l3_off + ihl > bytes.size()) return;
  set16(l3_off + 10, fold(sum16(&bytes[l3_off], ihl)));
}

rte_ether_addr mac(std::string_view text) {
  rte_ether_addr a{};
  std::string s(text);
  if (rte_ether_unformat_addr(s.c_str(), &a) != 0) {
    std::fprintf(stderr, "bad MAC in test: %s\n", s.c_str());
    std::abort();
  }
  return a;
}

PacketBuilder& PacketBuilder::eth(std::string_view dst, std::string_view src) {
  Layer l{Kind::kEth, {}};
  auto d = mac(dst), s = mac(src);
  app_bytes(l.hdr, d.addr_bytes, 6);
  app_bytes(l.hdr, s.addr_bytes, 6);
  app16(l.hdr, 0);  // ethertype: fixed by the next layer
  layers_.push_back(std::move(l));
  return *this;
}

PacketBuilder& PacketBuilder::vlan(uint16_t vid, uint16_t tpid, uint8_t pcp) {
  // The TPID goes in the previous layer's type field; the tag holds TCI + next type.
  Layer l{Kind::kVlan, {}};
  l.proto = 0;
  app16(l.hdr, static_cast<uint16_t>(pcp << 13 | (vid & 0x0fff)));
  app16(l.hdr, 0);
  l.hdr.push_back(static_cast<uint8_t>(tpid >> 8));  // remembered TPID (stripped at build)
  l.hdr.push_back(static_cast<uint8_t>(tpid));
  layers_.push_back(std::move(l));
  return *this;
}

PacketBuilder& PacketBuilder::arp(uint16_t op, std::string_view sha, std::string_view spa,
                                  std::string_view tha, std::string_view tpa) {
  Layer l{Kind::kArp, {}};
  app16(l.hdr, 1);
  app16(l.hdr, RTE_ETHER_TYPE_IPV4);
  l.hdr.push_back(6);
  l.hdr.push_back(4);
  app16(l.hdr, op);
  auto s = mac(sha), t = mac(tha);
  app_bytes(l.hdr, s.addr_bytes, 6);
  auto sp = addr_bytes(spa, AF_INET);
  l.hdr.insert(l.hdr.end(), sp.begin(), sp.end());
  app_bytes(l.hdr, t.addr_bytes, 6);
  auto tp = addr_bytes(tpa, AF_INET);
  l.hdr.insert(l.hdr.end(), tp.begin(), tp.end());
  layers_.push_back(std::move(l));
  return *this;
}

PacketBuilder& PacketBuilder::ipv4(std::string_view src, std::string_view dst, Ipv4Opts o) {
  Layer l{Kind::kIpv4, {}};
  auto opts = o.options;
  while (opts.size() % 4) opts.push_back(0);  // EOL padding
  l.hdr.push_back(static_cast<uint8_t>(0x40 | ((20 + opts.size()) / 4)));
  l.hdr.push_back(o.tos);
  app16(l.hdr, 0);  // total length
  app16(l.hdr, o.id);
  app16(l.hdr, static_cast<uint16_t>((o.df ? 0x4000 : 0) | (o.mf ? 0x2000 : 0) |
                                     (o.frag_offset & 0x1fff)));
  l.hdr.push_back(o.ttl);
  l.hdr.push_back(0);  // protocol
  app16(l.hdr, 0);     // checksum
  auto s = addr_bytes(src, AF_INET), d = addr_bytes(dst, AF_INET);
  l.hdr.insert(l.hdr.end(), s.begin(), s.end());
  l.hdr.insert(l.hdr.end(), d.begin(), d.end());
  l.hdr.insert(l.hdr.end(), opts.begin(), opts.end());
  layers_.push_back(std::move(l));
  return *this;
}

PacketBuilder& PacketBuilder::ipv6(std::string_view src, std::string_view dst, Ipv6Opts o) {
  Layer l{Kind::kIpv6, {}};
  app32(l.hdr, 6u << 28 | uint32_t{o.tclass} << 20 | (o.flow_label & 0xfffff));
  app16(l.hdr, 0);     // payload length
  l.hdr.push_back(0);  // next header
  l.hdr.push_back(o.hop_limit);
  auto s = addr_bytes(src, AF_INET6), d = addr_bytes(dst, AF_INET6);
  l.hdr.insert(l.hdr.end(), s.begin(), s.end());
  l.hdr.insert(l.hdr.end(), d.begin(), d.end());
  layers_.push_back(std::move(l));
  return *this;
}

static std::vector<uint8_t> ext_hdr(uint8_t len8) {
  std::vector<uint8_t> h(8 + 8u * len8, 0);
  h[1] = len8;
  if (h.size() > 2) h[2] = 1;  // PadN option filling the rest (type 1)
  if (h.size() > 3) h[3] = static_cast<uint8_t>(h.size() - 4);
  return h;
}

PacketBuilder& PacketBuilder::ipv6_hop_by_hop(uint8_t len8) {
  layers_.push_back({Kind::kExt, ext_hdr(len8), IPPROTO_HOPOPTS});
  return *this;
}
PacketBuilder& PacketBuilder::ipv6_dest_opts(uint8_t len8) {
  layers_.push_back({Kind::kExt, ext_hdr(len8), IPPROTO_DSTOPTS});
  return *this;
}
PacketBuilder& PacketBuilder::ipv6_routing(uint8_t len8) {
  auto h = ext_hdr(len8);
  h[2] = 0;  // routing type 0, segments left 0
  h[3] = 0;
  layers_.push_back({Kind::kExt, h, IPPROTO_ROUTING});
  return *this;
}
PacketBuilder& PacketBuilder::ipv6_fragment(uint16_t offset8, bool mf, uint32_t id) {
  std::vector<uint8_t> h(8, 0);
  put16(h, 2, static_cast<uint16_t>(offset8 << 3 | (mf ? 1 : 0)));
  h[4] = static_cast<uint8_t>(id >> 24);
  h[5] = static_cast<uint8_t>(id >> 16);
  h[6] = static_cast<uint8_t>(id >> 8);
  h[7] = static_cast<uint8_t>(id);
  layers_.push_back({Kind::kExt, h, IPPROTO_FRAGMENT});
  return *this;
}

PacketBuilder& PacketBuilder::tcp(uint16_t sport, uint16_t dport, uint8_t flags, uint32_t seq,
                                  uint32_t ack, std::vector<uint8_t> options) {
  Layer l{Kind::kTcp, {}};
  while (options.size() % 4) options.push_back(0);
  app16(l.hdr, sport);
  app16(l.hdr, dport);
  app32(l.hdr, seq);
  app32(l.hdr, ack);
  l.hdr.push_back(static_cast<uint8_t>(((20 + options.size()) / 4) << 4));
  l.hdr.push_back(flags);
  app16(l.hdr, 65535);  // window
  app16(l.hdr, 0);      // checksum
  app16(l.hdr, 0);      // urgent
  l.hdr.insert(l.hdr.end(), options.begin(), options.end());
  layers_.push_back(std::move(l));
  return *this;
}

PacketBuilder& PacketBuilder::udp(uint16_t sport, uint16_t dport) {
  Layer l{Kind::kUdp, {}};
  app16(l.hdr, sport);
  app16(l.hdr, dport);
  app16(l.hdr, 0);
  app16(l.hdr, 0);
  layers_.push_back(std::move(l));
  return *this;
}

PacketBuilder& PacketBuilder::icmp(uint8_t type, uint8_t code, uint16_t id, uint16_t seq) {
  Layer l{Kind::kIcmp, {type, code, 0, 0}};
  app16(l.hdr, id);
  app16(l.hdr, seq);
  layers_.push_back(std::move(l));
  return *this;
}

PacketBuilder& PacketBuilder::icmpv6(uint8_t type, uint8_t code, const std::vector<uint8_t>& body) {
  Layer l{Kind::kIcmpv6, {type, code, 0, 0}};
  l.hdr.insert(l.hdr.end(), body.begin(), body.end());
  layers_.push_back(std::move(l));
  return *this;
}

PacketBuilder& PacketBuilder::nd_solicit(std::string_view target, std::string_view src_mac) {
  std::vector<uint8_t> body(4, 0);  // reserved
  auto t = addr_bytes(target, AF_INET6);
  body.insert(body.end(), t.begin(), t.end());
  body.push_back(1);  // source link-layer address option
  body.push_back(1);
  auto m = mac(src_mac);
  app_bytes(body, m.addr_bytes, 6);
  return icmpv6(135, 0, body);
}

PacketBuilder& PacketBuilder::nd_advert(std::string_view target, std::string_view target_mac,
                                        bool solicited) {
  std::vector<uint8_t> body(4, 0);
  body[0] = static_cast<uint8_t>((solicited ? 0x40 : 0) | 0x20);  // S, O
  auto t = addr_bytes(target, AF_INET6);
  body.insert(body.end(), t.begin(), t.end());
  body.push_back(2);  // target link-layer address option
  body.push_back(1);
  auto m = mac(target_mac);
  app_bytes(body, m.addr_bytes, 6);
  return icmpv6(136, 0, body);
}

PacketBuilder& PacketBuilder::payload(size_t n, uint8_t fill) {
  layers_.push_back({Kind::kPayload, std::vector<uint8_t>(n, fill)});
  return *this;
}
PacketBuilder& PacketBuilder::payload(const std::vector<uint8_t>& data) {
  layers_.push_back({Kind::kPayload, data});
  return *this;
}

Frame PacketBuilder::build() const {
  // Resolve each layer's "next type" into the layer before it, then serialise, then fix
  // lengths and checksums from the inside out.
  auto layers = layers_;
  std::vector<size_t> off(layers.size());
  Frame f;
  // Link types.
  for (size_t i = 0; i + 1 < layers.size(); ++i) {
    Layer& cur = layers[i];
    const Layer& nxt = layers[i + 1];
    uint16_t ethertype = 0;
    uint8_t ipproto = 0;
    switch (nxt.kind) {
      case Kind::kVlan:
        ethertype = static_cast<uint16_t>(nxt.hdr[4] << 8 | nxt.hdr[5]);
        break;
      case Kind::kArp:
        ethertype = RTE_ETHER_TYPE_ARP;
        break;
      case Kind::kIpv4:
        ethertype = RTE_ETHER_TYPE_IPV4;
        break;
      case Kind::kIpv6:
        ethertype = RTE_ETHER_TYPE_IPV6;
        break;
      case Kind::kExt:
        ipproto = nxt.proto;
        break;
      case Kind::kTcp:
        ipproto = IPPROTO_TCP;
        break;
      case Kind::kUdp:
        ipproto = IPPROTO_UDP;
        break;
      case Kind::kIcmp:
        ipproto = IPPROTO_ICMP;
        break;
      case Kind::kIcmpv6:
        ipproto = IPPROTO_ICMPV6;
        break;
      default:
        break;
    }
    if (cur.kind == Kind::kEth && ethertype) put16(cur.hdr, 12, ethertype);
    if (cur.kind == Kind::kVlan && ethertype) put16(cur.hdr, 2, ethertype);
    if (cur.kind == Kind::kIpv4 && ipproto) cur.hdr[9] = ipproto;
    if (cur.kind == Kind::kIpv6 && ipproto) cur.hdr[6] = ipproto;
    if (cur.kind == Kind::kExt && ipproto) cur.hdr[0] = ipproto;
    if (cur.kind == Kind::kExt && !ipproto && nxt.kind == Kind::kPayload) cur.hdr[0] = IPPROTO_NONE;
  }
  for (auto& l : layers)
    if (l.kind == Kind::kVlan) l.hdr.resize(4);  // drop the remembered TPID
  for (size_t i = 0; i < layers.size(); ++i) {
    off[i] = f.bytes.size();
    f.bytes.insert(f.bytes.end(), layers[i].hdr.begin(), layers[i].hdr.end());
    Kind k = layers[i].kind;
    if ((k == Kind::kIpv4 || k == Kind::kIpv6 || k == Kind::kArp) && f.l3_off == 0)
      f.l3_off = off[i];
    if ((k == Kind::kTcp || k == Kind::kUdp || k == Kind::kIcmp || k == Kind::kIcmpv6) &&
        f.l4_off == 0)
      f.l4_off = off[i];
  }
  auto& b = f.bytes;
  size_t end = b.size();
  // Find the IP layer for pseudo headers.
  size_t ip_i = layers.size();
  for (size_t i = 0; i < layers.size(); ++i)
    if (layers[i].kind == Kind::kIpv4 || layers[i].kind == Kind::kIpv6) {
      ip_i = i;
      break;
    }
  for (size_t i = layers.size(); i-- > 0;) {
    size_t o = off[i];
    switch (layers[i].kind) {
      case Kind::kUdp:
        put16(b, o + 4, static_cast<uint16_t>(end - o));
        [[fallthrough]];
      case Kind::kTcp:
      case Kind::kIcmpv6: {
        if (ip_i == layers.size()) break;
        size_t csum_off = layers[i].kind == Kind::kTcp ? 16 : layers[i].kind == Kind::kUdp ? 6 : 2;
        put16(b, o + csum_off, 0);
        uint32_t acc = 0;
        size_t ipo = off[ip_i];
        uint8_t proto = IPPROTO_ICMPV6;
        if (layers[i].kind == Kind::kTcp) proto = IPPROTO_TCP;
        if (layers[i].kind == Kind::kUdp) proto = IPPROTO_UDP;
        if (layers[ip_i].kind == Kind::kIpv4) {
          acc = sum16(&b[ipo + 12], 8);
        } else {
          acc = sum16(&b[ipo + 8], 32);
        }
        acc += proto;
        acc += static_cast<uint32_t>(end - o);
        acc = sum16(&b[o], end - o, acc);
        uint16_t c = fold(acc);
        if (c == 0 && layers[i].kind == Kind::kUdp) c = 0xffff;
        put16(b, o + csum_off, c);
        break;
      }
      case Kind::kIcmp:
        put16(b, o + 2, 0);
        put16(b, o + 2, fold(sum16(&b[o], end - o)));
        break;
      case Kind::kIpv4: {
        put16(b, o + 2, static_cast<uint16_t>(end - o));
        size_t ihl = (b[o] & 0x0f) * 4u;
        put16(b, o + 10, 0);
        put16(b, o + 10, fold(sum16(&b[o], ihl)));
        break;
      }
      case Kind::kIpv6:
        put16(b, o + 4, static_cast<uint16_t>(end - o - 40));
        break;
      default:
        break;
    }
  }
  return f;
}

rte_mbuf* to_mbuf(rte_mempool* pool, const Frame& f, uint16_t in_port) {
  rte_mbuf* m = rte_pktmbuf_alloc(pool);
  if (m == nullptr) return nullptr;
  char* p = rte_pktmbuf_append(m, static_cast<uint16_t>(f.bytes.size()));
  if (p == nullptr && !f.bytes.empty()) {
    rte_pktmbuf_free(m);
    return nullptr;
  }
  if (!f.bytes.empty()) std::memcpy(p, f.bytes.data(), f.bytes.size());
  m->port = in_port;
  auto& md = dp::meta(m);
  md = dp::PacketMeta{};
  md.in_port = in_port;
  return m;
}

std::vector<uint8_t> from_mbuf(const rte_mbuf* m) {
  std::vector<uint8_t> out(rte_pktmbuf_pkt_len(m));
  const void* p = rte_pktmbuf_read(m, 0, static_cast<uint32_t>(out.size()), out.data());
  if (p != out.data() && !out.empty()) std::memcpy(out.data(), p, out.size());
  return out;
}

}  // namespace traboule::testing
