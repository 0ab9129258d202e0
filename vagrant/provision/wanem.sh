#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# vagrant/provision/wanem.sh: the WAN emulator VM, which also plays the operators' core router,
# the LAN host and the internet (the namespace lab's wanem-*, core, lan1 and inet hosts):
#   - lan1: a namespace holding the NIC facing the edge's LAN, 192.168.10.11 (default via the edge);
#   - per uplink (fiber, vdsl, 4g): traboule-wanem between the NIC facing the edge (<u>-site) and
#     a veth (<u>-net) whose peer <u> carries the operator's gateway 100.64.n.1 in this VM's kernel;
#   - the NIC facing the hub (hub) carries 100.64.100.1;
#   - inet: a namespace behind the veth inet, 198.51.100.10 with a web server;
#   - the kernel forwards between them; replies leave by the uplink the connection came in on
#     (ct mark and per-uplink tables, as the namespace lab's core).
# `wanem.sh net` (re)does the networking (traboule-lab-net.service, at boot).
here=$(dirname "$(readlink -f "$0")")
# shellcheck source=vagrant/provision/common.sh
if [ -r "$here/common.sh" ]; then source "$here/common.sh"; else source /tmp/traboule-lab/provision/common.sh; fi

veth() { # veth A B: a veth pair, offloads off on both ends
  ip link show "$1" >/dev/null 2>&1 || ip link add "$1" type veth peer name "$2"
  ethtool -K "$1" tso off gso off gro off tx off >/dev/null 2>&1 || true
  ethtool -K "$2" tso off gso off gro off tx off >/dev/null 2>&1 || true
}

wanem_net() {
  local u n
  sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
  sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0

  # lan1
  ip netns exec lan1 true 2>/dev/null && ip -n lan1 link show lan1 >/dev/null 2>&1 || tb_rename_port lan1
  ip netns list | grep -qx 'lan1\( .*\)\?' || ip netns add lan1
  if ip link show lan1 >/dev/null 2>&1; then ip link set lan1 netns lan1; fi
  ip -n lan1 link set lo up
  ip netns exec lan1 sysctl -qw net.ipv6.conf.lan1.disable_ipv6=0
  ip -n lan1 link set lan1 up
  ip -n lan1 addr replace "$SITE_LAN1_4/24" dev lan1
  ip -n lan1 -6 addr replace "$SITE_LAN1_6/64" dev lan1 nodad
  ip -n lan1 route replace default via "$SITE_EDGE_LAN4"
  ip -n lan1 -6 route replace default via "$SITE_EDGE_LAN6"

  # the uplinks: <u>-site (NIC) = wanem = <u>-net ~ <u> (gateway)
  for u in "${SITE_UPLINKS[@]}"; do
    n=$(site_uplink_index "$u")
    tb_rename_port "$u-site"
    veth "$u-net" "$u"
    sysctl -qw "net.ipv6.conf.$u-net.disable_ipv6=1"
    ip link set "$u-net" up
    ip link set "$u" up
    ip addr replace "$(site_uplink_gw4 "$u")/24" dev "$u"
    ip -6 addr replace "$(site_uplink_gw6 "$u")/64" dev "$u" nodad
    sysctl -qw "net.ipv4.conf.$u.rp_filter=0"
    ip route replace "$SITE_LAN_NET4" via "$(site_uplink_addr4 "$u")" dev "$u" table $((100 + n))
    ip -6 route replace "$SITE_LAN_NET6" via "$(site_uplink_addr6 "$u")" dev "$u" table $((100 + n))
    ip rule del fwmark "$n" lookup $((100 + n)) priority $((1000 + n)) 2>/dev/null || true
    ip rule add fwmark "$n" lookup $((100 + n)) priority $((1000 + n))
    ip -6 rule del fwmark "$n" lookup $((100 + n)) priority $((1000 + n)) 2>/dev/null || true
    ip -6 rule add fwmark "$n" lookup $((100 + n)) priority $((1000 + n))
  done
  # the main route to the LAN: via fiber (as the namespace lab's core)
  ip route replace "$SITE_LAN_NET4" via "$(site_uplink_addr4 fiber)"
  ip -6 route replace "$SITE_LAN_NET6" via "$(site_uplink_addr6 fiber)"

  # the hub
  tb_rename_port hub
  sysctl -qw net.ipv6.conf.hub.disable_ipv6=0
  ip addr replace "$SITE_HUB_GW4/24" dev hub
  ip -6 addr replace "$SITE_HUB_GW6/64" dev hub nodad
  ip route replace "$SITE_DC_NET4" via "$SITE_HUB_WAN4"
  ip -6 route replace "$SITE_DC_NET6" via "$SITE_HUB_WAN6"

  # inet
  ip netns list | grep -qx 'inet\( .*\)\?' || ip netns add inet
  if ! ip -n inet link show eth0 >/dev/null 2>&1; then
    veth inet inet-eth0
    ip link set inet-eth0 netns inet
    ip -n inet link set inet-eth0 name eth0
  fi
  ip link set inet up
  ip addr replace "$SITE_INET_GW4/24" dev inet
  ip -6 addr replace "$SITE_INET_GW6/64" dev inet nodad
  ip -n inet link set lo up
  ip -n inet link set eth0 up
  ip -n inet addr replace "$SITE_INET4/24" dev eth0
  ip -n inet -6 addr replace "$SITE_INET6/64" dev eth0 nodad
  ip -n inet route replace default via "$SITE_INET_GW4"
  ip -n inet -6 route replace default via "$SITE_INET_GW6"

  # Re-provisioning replaces the table: declared (so the delete cannot fail), deleted, written.
  {
    echo "table inet traboule_lab_return"
    echo "delete table inet traboule_lab_return"
    site_return_path_nft traboule_lab_return
  } | nft -f -
}

if [ "${1:-}" = net ]; then wanem_net; exit 0; fi
tb_install_deb
tb_keep_files
wanem_net
tb_boot_unit wanem.sh

# traboule-wanem per uplink, with the profile of its name (a = the site side, as in tools/lab).
cat >/etc/systemd/system/traboule-lab-wanem@.service <<'EOS'
[Unit]
Description=Traboule vagrant lab: traboule-wanem on %i
After=traboule-lab-net.service
Requires=traboule-lab-net.service

[Service]
ExecStart=/usr/bin/traboule-wanem run --name %i --a %i-site --b %i-net --ctl /run/traboule-wanem-%i.sock --profile %i
Restart=on-failure

[Install]
WantedBy=multi-user.target
EOS
mkdir -p /srv/traboule-lab
echo "traboule lab inet" >/srv/traboule-lab/index.html
cat >/etc/systemd/system/traboule-lab-web.service <<'EOS'
[Unit]
Description=Traboule vagrant lab: web server (inet)
After=traboule-lab-net.service
Requires=traboule-lab-net.service

[Service]
ExecStart=/usr/bin/ip netns exec inet /usr/bin/python3 -m http.server 80 --bind :: --directory /srv/traboule-lab
Restart=on-failure

[Install]
WantedBy=multi-user.target
EOS
systemctl daemon-reload
systemctl enable traboule-lab-net.service traboule-lab-web.service
for u in "${SITE_UPLINKS[@]}"; do systemctl enable --now "traboule-lab-wanem@$u.service"; done
systemctl start traboule-lab-web.service
tb_log "wanem: links fiber, vdsl, 4g; lan1 and inet namespaces (ip netns exec lan1 ping $SITE_DC1_4)"
tb_log "impair: traboule-wanem ctl --ctl /run/traboule-wanem-vdsl.sock delay=20ms"
