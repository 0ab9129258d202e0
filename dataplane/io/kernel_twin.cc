// SPDX-License-Identifier: Apache-2.0
#include "dataplane/io/kernel_twin.h"

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/fib_rules.h>
#include <linux/if_addr.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>

namespace traboule::dp {
namespace {

constexpr size_t kBuf = 8192;  // rtnetlink requests and acknowledgements here are small

class Rtnl {
 public:
  Rtnl() : nl_(mnl_socket_open(NETLINK_ROUTE)) {
    if (nl_ == nullptr || mnl_socket_bind(nl_, 0, MNL_SOCKET_AUTOPID) < 0)
      throw std::runtime_error(std::string("twin: rtnetlink socket: ") + std::strerror(errno));
    portid_ = mnl_socket_get_portid(nl_);
  }
  ~Rtnl() {
    if (nl_ != nullptr) mnl_socket_close(nl_);
  }
  Rtnl(const Rtnl&) = delete;
  Rtnl& operator=(const Rtnl&) = delete;

  nlmsghdr* start(uint16_t type, uint16_t flags) {
    nlmsghdr* h = mnl_nlmsg_put_header(buf_);
    h->nlmsg_type = type;
    h->nlmsg_flags = static_cast<uint16_t>(NLM_F_REQUEST | NLM_F_ACK | flags);
    h->nlmsg_seq = ++seq_;
    return h;
  }
  // Sends and reads the acknowledgement: 0 or the kernel's errno.
  int call(nlmsghdr* h) {
    if (mnl_socket_sendto(nl_, h, h->nlmsg_len) < 0) return errno;
    char rb[kBuf];
    ssize_t n = mnl_socket_recvfrom(nl_, rb, sizeof rb);
    if (n < 0) return errno;
    int rc = mnl_cb_run(rb, static_cast<size_t>(n), seq_, portid_, nullptr, nullptr);
    return rc < 0 ? errno : 0;
  }

 private:
  mnl_socket* nl_;
  unsigned portid_ = 0;
  unsigned seq_ = static_cast<unsigned>(time(nullptr));
  alignas(nlmsghdr) char buf_[kBuf];
};

[[noreturn]] void fail(const std::string& ifname, const std::string& what, int err) {
  throw std::runtime_error("twin " + ifname + ": " + what + ": " + std::strerror(err));
}

void sysctl(const std::string& path, const char* value) {
  std::ofstream f(path);
  if (f) f << value;  // absent (no IPv6 in this kernel): nothing to turn off
}

void put_addr(nlmsghdr* h, uint16_t type, const IpAddr& a) {
  if (a.is_v4())
    mnl_attr_put(h, type, 4, a.v4_ptr());
  else
    mnl_attr_put(h, type, 16, a.b.data());
}

void add_addr(Rtnl& nl, const std::string& ifname, unsigned ifindex, const IfAddr& a) {
  nlmsghdr* h = nl.start(RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE);
  auto* ifa = static_cast<ifaddrmsg*>(mnl_nlmsg_put_extra_header(h, sizeof(ifaddrmsg)));
  const bool v4 = a.addr.is_v4();
  ifa->ifa_family = v4 ? AF_INET : AF_INET6;
  ifa->ifa_prefixlen = a.plen;
  ifa->ifa_index = ifindex;
  ifa->ifa_flags = v4 ? 0 : IFA_F_NODAD;  // the data plane already answers for it
  put_addr(h, IFA_LOCAL, a.addr);
  put_addr(h, IFA_ADDRESS, a.addr);
  if (int e = nl.call(h); e != 0) fail(ifname, "address " + a.addr.str(), e);
}

void add_neigh(Rtnl& nl, const std::string& ifname, unsigned ifindex, const IpAddr& ip) {
  nlmsghdr* h = nl.start(RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_REPLACE);
  auto* nd = static_cast<ndmsg*>(mnl_nlmsg_put_extra_header(h, sizeof(ndmsg)));
  nd->ndm_family = ip.is_v4() ? AF_INET : AF_INET6;
  nd->ndm_ifindex = static_cast<int>(ifindex);
  nd->ndm_state = NUD_PERMANENT;
  put_addr(h, NDA_DST, ip);
  mnl_attr_put(h, NDA_LLADDR, 6, kTwinGatewayMac);
  if (int e = nl.call(h); e != 0) fail(ifname, "gateway neighbour " + ip.str(), e);
}

void add_default(Rtnl& nl, const std::string& ifname, unsigned ifindex, const IpAddr& gw,
                 unsigned table, bool onlink, uint32_t metric) {
  nlmsghdr* h = nl.start(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE);
  auto* rt = static_cast<rtmsg*>(mnl_nlmsg_put_extra_header(h, sizeof(rtmsg)));
  rt->rtm_family = gw.is_v4() ? AF_INET : AF_INET6;
  rt->rtm_dst_len = 0;
  rt->rtm_table = static_cast<uint8_t>(table < 256 ? table : unsigned{RT_TABLE_UNSPEC});
  rt->rtm_protocol = RTPROT_STATIC;
  rt->rtm_scope = RT_SCOPE_UNIVERSE;
  rt->rtm_type = RTN_UNICAST;
  rt->rtm_flags = onlink ? RTNH_F_ONLINK : 0;
  if (table >= 256) mnl_attr_put_u32(h, RTA_TABLE, table);
  put_addr(h, RTA_GATEWAY, gw);
  mnl_attr_put_u32(h, RTA_OIF, ifindex);
  if (metric != 0) mnl_attr_put_u32(h, RTA_PRIORITY, metric);
  if (int e = nl.call(h); e != 0) fail(ifname, "default route via " + gw.str(), e);
}

void rule(Rtnl& nl, bool add, const IfAddr* from, bool v6, unsigned table, unsigned priority) {
  nlmsghdr* h = nl.start(add ? RTM_NEWRULE : RTM_DELRULE, add ? NLM_F_CREATE : 0);
  auto* fr = static_cast<fib_rule_hdr*>(mnl_nlmsg_put_extra_header(h, sizeof(fib_rule_hdr)));
  fr->family = v6 ? AF_INET6 : AF_INET;
  fr->action = FR_ACT_TO_TBL;
  fr->table = RT_TABLE_UNSPEC;
  mnl_attr_put_u32(h, FRA_PRIORITY, priority);
  if (add) {
    mnl_attr_put_u32(h, FRA_TABLE, table);
    fr->src_len = v6 ? 128 : 32;
    put_addr(h, FRA_SRC, from->addr);
  }
  int e = nl.call(h);
  if (add && e != 0 && e != EEXIST)
    throw std::runtime_error("twin rule from " + from->addr.str() + ": " + std::strerror(e));
}

}  // namespace

void reserve_kernel_ports(const std::string& ranges) {
  const char* path = "/proc/sys/net/ipv4/ip_local_reserved_ports";
  std::string now;
  {
    std::ifstream in(path);
    std::getline(in, now);
  }
  if (now.find(ranges) != std::string::npos) return;  // a restart: already there
  std::ofstream out(path);
  out << (now.empty() ? ranges : now + "," + ranges);
  if (!out.flush())
    throw std::runtime_error(std::string("twins: cannot reserve ports ") + ranges + " in " + path);
}

bool kernel_interface_exists(const std::string& ifname) {
  return if_nametoindex(ifname.c_str()) != 0;
}

void remove_twin_rules(unsigned uplinks) {
  Rtnl nl;
  for (unsigned u = 0; u < uplinks; ++u)
    for (bool v6 : {false, true})
      for (int i = 0; i < 8; ++i) rule(nl, false, nullptr, v6, 0, kTwinRuleBase + u);
}

void configure_twin_kernel(const TwinKernelSetup& s) {
  const unsigned ifindex = if_nametoindex(s.ifname.c_str());
  if (ifindex == 0) fail(s.ifname, "no such interface", errno);
  const std::string v4 = "/proc/sys/net/ipv4/conf/" + s.ifname + "/";
  const std::string v6 = "/proc/sys/net/ipv6/conf/" + s.ifname + "/";
  sysctl(v4 + "rp_filter", "2");  // answers may leave by another twin (the overlay's)
  sysctl(v6 + "accept_ra", "0");  // addresses and routes come from the config, not the wire
  sysctl(v6 + "autoconf", "0");
  sysctl(v6 + "dad_transmits", "0");
  sysctl(v6 + "router_solicitations", "0");
  // A namespace may turn IPv6 off for new interfaces (the lab does, for its veths).
  for (const IfAddr& a : s.addrs)
    if (!a.addr.is_v4()) sysctl(v6 + "disable_ipv6", "0");
  Rtnl nl;
  for (const IfAddr& a : s.addrs) add_addr(nl, s.ifname, ifindex, a);
  if (s.default_route) {
    const IpAddr g4 = *IpAddr::parse(kTwinGateway4);
    const IpAddr g6 = *IpAddr::parse(kTwinGateway6);
    add_neigh(nl, s.ifname, ifindex, g4);
    add_default(nl, s.ifname, ifindex, g4, RT_TABLE_MAIN, true, 4096);
    add_neigh(nl, s.ifname, ifindex, g6);
    add_default(nl, s.ifname, ifindex, g6, RT_TABLE_MAIN, false, 4096);
  }
  for (const IfAddr& a : s.addrs) {
    const std::optional<IpAddr>& gw = a.addr.is_v4() ? s.gw4 : s.gw6;
    if (!gw || s.table == 0) continue;
    add_default(nl, s.ifname, ifindex, *gw, s.table, true, 0);
    rule(nl, true, &a, !a.addr.is_v4(), s.table, s.rule_priority);
  }
}

}  // namespace traboule::dp
