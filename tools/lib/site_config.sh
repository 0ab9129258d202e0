# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash disable=SC2034 # the SITE_* variables are for the scripts sourcing this
# tools/lib/site_config.sh: the Traboule lab site's addresses and the generation of its daemons'
# configs (trabouled.json) and first-boot policies (policy.json), shared by the namespace lab
# (tools/lib/lab.sh, devices net_af_packet) and the Vagrant lab (vagrant/provision/*.sh, virtio
# NICs bound to DPDK by PCI address). Plain bash, no dependency: it is copied into the VMs.
#
# The functions print JSON on stdout. What differs between the labs is passed in: the DPDK device
# of each port (a callback), the EAL arguments, comments and descriptions, saas_dir, the API's
# listen address and token hashes. The addresses are the SITE_* variables below (docs/lab.md);
# a caller may change them after sourcing this file (the namespace lab and the VMs use these).

# The site's addresses (docs/lab.md, "trabouled's addresses" and the hosts' table).
SITE_LAN_NET4=192.168.10.0/24
SITE_LAN_NET6=fd00:10::/64
SITE_EDGE_LAN4=192.168.10.1
SITE_EDGE_LAN6=fd00:10::1
SITE_LAN1_4=192.168.10.11
SITE_LAN1_6=fd00:10::11
SITE_LAN2_4=192.168.10.12
SITE_LAN2_6=fd00:10::12
SITE_DC_NET4=10.10.0.0/24
SITE_DC_NET6=fd00:1010::/64
SITE_HUB_LAN4=10.10.0.1
SITE_HUB_LAN6=fd00:1010::1
SITE_DC1_4=10.10.0.10
SITE_DC1_6=fd00:1010::10
SITE_HUB_WAN4=100.64.100.2
SITE_HUB_WAN6=fd00:64:100::2
SITE_HUB_GW4=100.64.100.1
SITE_HUB_GW6=fd00:64:100::1
SITE_INET4=198.51.100.10
SITE_INET6=2001:db8:100::10
SITE_INET_GW4=198.51.100.1
SITE_INET_GW6=2001:db8:100::1
SITE_API_PORT=8443
SITE_OVERLAY_PORT=4500
SITE_SITE_ID=1 # the edge's overlay site id
SITE_UPLINKS=(fiber vdsl 4g)

# Uplink n (fiber 1, vdsl 2, 4g 3): 100.64.n.0/24 and fd00:64:n::/64, gateway .1, edge .2. The
# index is also the port's position in the edge's config (lan is 0).
site_uplink_index() {
  case $1 in
    fiber) echo 1 ;;
    vdsl) echo 2 ;;
    4g) echo 3 ;;
    *) return 1 ;;
  esac
}
site_uplink_addr4() { echo "100.64.$(site_uplink_index "$1").2"; }
site_uplink_gw4() { echo "100.64.$(site_uplink_index "$1").1"; }
site_uplink_addr6() { echo "fd00:64:$(site_uplink_index "$1")::2"; }
site_uplink_gw6() { echo "fd00:64:$(site_uplink_index "$1")::1"; }

# The core router's return path, as nft rules for table inet TABLE: a connection that came in by
# an access line is marked with that line's number, and its replies go back by the same line
# (the policy routing tables 101-103 of both labs).
site_return_path_nft() {
  cat <<EOF
table inet $1 {
  chain prerouting {
    type filter hook prerouting priority mangle; policy accept;
    ct state new iifname "fiber" ct mark set 1
    ct state new iifname "vdsl" ct mark set 2
    ct state new iifname "4g" ct mark set 3
    ct direction reply meta mark set ct mark
  }
}
EOF
}

# site_api_json LISTEN OPERATOR_SHA256 VIEWER_SHA256: the "api" member (two tokens, lab-operator
# and lab-viewer; cert and key next to the config).
site_api_json() {
  cat <<EOF
  "api": {
    "listen": "$1", "port": $SITE_API_PORT, "cert": "api.crt", "key": "api.key",
    "tokens": [
      { "name": "lab-operator", "role": "operator", "sha256": "$2" },
      { "name": "lab-viewer", "role": "viewer", "sha256": "$3" }
    ]
  }
EOF
}

# Kernel twins (docs/kernel.md) when SITE_TWIN_PREFIX is set: the edge's ports get twins named
# <prefix><port> (the lab's af_packet veths already hold the plain port names).
site__twin() { [ -z "${SITE_TWIN_PREFIX:-}" ] || printf ' "twin": "%s%s",' "$SITE_TWIN_PREFIX" "$1"; }
# SITE_FIBER_VLAN: the fiber uplink is that 802.1Q VLAN of its port (an ONT's VLAN 832).
site__vlan() { [ "$1" != fiber ] || [ -z "${SITE_FIBER_VLAN:-}" ] || printf ' "vlan": %s,' "$SITE_FIBER_VLAN"; }
site__lan_twin() { [ -z "${SITE_TWIN_PREFIX:-}" ] || printf ', "twin": "%slan"' "$SITE_TWIN_PREFIX"; }
site__kernel() {
  [ -n "${SITE_TWIN_PREFIX:-}" ] || return 0
  printf '\n  "kernel": { "twins": true },'
}

# site_edge_config COMMENT EAL WORKERS DEVICE_FN SAAS_DIR API_JSON
#   COMMENT   the config's "comment"
#   EAL       the inside of the "eal" array, JSON (e.g. '"--no-huge", "--file-prefix", "x"')
#   DEVICE_FN a command printing the DPDK device of a port, called as DEVICE_FN PORT INDEX
#             (lan 0, fiber 1, vdsl 2, 4g 3), e.g. net_af_packet1,iface=fiber or 0000:00:07.0
#   SAAS_DIR  "saas_dir" (empty: none)
#   API_JSON  the "api" member (site_api_json)
site_edge_config() {
  local comment=$1 eal=$2 workers=$3 devfn=$4 saas=$5 api=$6 u n sep=""
  cat <<EOF
{
  "comment": "$comment",
  "role": "edge",
  "eal": [$eal],
  "dataplane": { "workers": $workers, "poll": "adaptive", "mbufs": 8191 },
  "flows": { "capacity": 65536 },
  "lan": { "device": "$("$devfn" lan 0)", "ipv4": "$SITE_EDGE_LAN4/24", "ipv6": "$SITE_EDGE_LAN6/64"$(site__lan_twin) },
  "uplinks": [
EOF
  for u in "${SITE_UPLINKS[@]}"; do
    n=$(site_uplink_index "$u")
    printf '%s    { "name": "%s", "device": "%s",%s%s\n' "$sep" "$u" "$("$devfn" "$u" "$n")" "$(site__twin "$u")" "$(site__vlan "$u")"
    printf '      "ipv4": "%s/24", "gateway4": "%s",\n' "$(site_uplink_addr4 "$u")" "$(site_uplink_gw4 "$u")"
    printf '      "ipv6": "%s/64", "gateway6": "%s" }' "$(site_uplink_addr6 "$u")" "$(site_uplink_gw6 "$u")"
    sep=$',\n'
  done
  cat <<EOF

  ],
  "policy": "policy.json",
  "state_dir": "state",
  "overlay": { "port": $SITE_OVERLAY_PORT, "site_id": $SITE_SITE_ID },$(site__kernel)
  "operations": { "timezone": "Europe/Paris",
                  "business_hours": { "days": "mon-fri", "start": "08:00", "end": "18:00" },
                  "syslog": [ { "host": "127.0.0.1", "port": 5514, "transport": "udp" },
                              { "host": "127.0.0.1", "port": 5515, "transport": "tcp" } ] },
  "ipfix": { "collectors": [ { "host": "127.0.0.1", "port": 4739 } ],
             "active_timeout_s": 10, "template_refresh_s": 5 },
EOF
  [ -z "$saas" ] || printf '  "saas_dir": "%s",\n' "$saas"
  cat <<EOF
$api
}
EOF
}

# site_hub_config COMMENT EAL WORKERS DEVICE_FN API_JSON (as site_edge_config; ports lan 0, wan 1)
site_hub_config() {
  local comment=$1 eal=$2 workers=$3 devfn=$4 api=$5
  cat <<EOF
{
  "comment": "$comment",
  "role": "hub",
  "eal": [$eal],
  "dataplane": { "workers": $workers, "poll": "adaptive", "mbufs": 8191 },
  "flows": { "capacity": 65536 },
  "lan": { "device": "$("$devfn" lan 0)", "ipv4": "$SITE_HUB_LAN4/24", "ipv6": "$SITE_HUB_LAN6/64" },
  "uplinks": [
    { "name": "wan", "device": "$("$devfn" wan 1)",
      "ipv4": "$SITE_HUB_WAN4/24", "gateway4": "$SITE_HUB_GW4",
      "ipv6": "$SITE_HUB_WAN6/64", "gateway6": "$SITE_HUB_GW6" }
  ],
  "policy": "policy.json",
  "state_dir": "state",
  "overlay": { "port": $SITE_OVERLAY_PORT },
$api
}
EOF
}

# The lab's first-boot policies (docs/policy.md). The edge: fiber and vdsl primary, 4g a capped
# backup; the datacenter over the overlay to the hub, voice protected, iperf3 (TCP 5201) on vdsl
# so a test can load that uplink alone, everything else broken out.
# site_edge_policy DESCRIPTION
site_edge_policy() {
  cat <<EOF
{
  "version": 1,
  "name": "lab-edge",
  "description": "$1",
  "role": "edge",
  "uplinks": [
    { "name": "fiber", "kind": "fiber", "up_kbps": 250000, "down_kbps": 500000, "cost": 10 },
    { "name": "vdsl", "kind": "vdsl", "up_kbps": 8000, "down_kbps": 50000, "cost": 20 },
    { "name": "4g", "kind": "4g", "role": "backup", "up_kbps": 12000, "down_kbps": 50000,
      "cost": 100, "monthly_cap_mb": 50000 }
  ],
  "peers": [ { "name": "hub", "endpoints": ["$SITE_HUB_WAN4"], "port": $SITE_OVERLAY_PORT } ],
  "sla_classes": [
    { "name": "realtime", "max_latency_ms": 50, "max_jitter_ms": 10, "max_loss_percent": 1 },
    { "name": "business", "max_latency_ms": 150, "max_loss_percent": 2 }
  ],
  "qos_classes": [
    { "name": "voice", "priority": 0, "dscp": "ef", "critical": true },
    { "name": "business", "priority": 1, "weight": 4, "dscp": "af21" },
    { "name": "best-effort", "priority": 2, "weight": 2 },
    { "name": "bulk", "priority": 3, "weight": 1, "dscp": "cs1" }
  ],
  "applications": [
    { "name": "iperf3", "category": "file-transfer", "ports": [5201], "proto": "tcp" }
  ],
  "rules": [
    { "name": "voice", "match": { "proto": "udp", "dst_ports": ["5060-5061"] },
      "action": { "egress": "overlay", "uplinks": ["fiber", "vdsl", "4g"],
                  "qos_class": "voice", "sla_class": "realtime" } },
    { "name": "datacenter", "match": { "dst_prefixes": ["$SITE_DC_NET4", "$SITE_DC_NET6"] },
      "action": { "egress": "overlay", "uplinks": ["fiber", "vdsl", "4g"],
                  "qos_class": "business", "sla_class": "business" } },
    { "name": "bulk-vdsl", "match": { "proto": "tcp", "dst_ports": [5201] },
      "action": { "egress": "breakout", "uplinks": ["vdsl", "fiber", "4g"], "qos_class": "bulk" } },
    { "name": "internet",
      "action": { "egress": "breakout", "uplinks": ["fiber", "vdsl", "4g"], "qos_class": "best-effort" } }
  ],
  "probes": { "timeout_ms": 1000 },
  "breakout_targets": [ { "name": "inet-web", "method": "http-head", "host": "$SITE_INET4", "port": 80 } ]
}
EOF
}

# The hub: one WAN uplink, the datacenter segment; its traffic to the site over the overlay.
# site_hub_policy DESCRIPTION
site_hub_policy() {
  cat <<EOF
{
  "version": 1,
  "name": "lab-hub",
  "description": "$1",
  "role": "hub",
  "uplinks": [ { "name": "wan", "kind": "fiber", "up_kbps": 1000000, "down_kbps": 1000000 } ],
  "segments": [ { "name": "datacenter", "prefixes": ["$SITE_DC_NET4", "$SITE_DC_NET6"] } ],
  "rules": [
    { "name": "to-site", "match": { "segment": "datacenter", "dst_prefixes": ["$SITE_LAN_NET4", "$SITE_LAN_NET6"] },
      "action": { "egress": "overlay", "uplinks": ["wan"] } },
    { "name": "internet", "action": { "egress": "breakout", "uplinks": ["wan"] } }
  ],
  "probes": { "interval_ms": 1000, "timeout_ms": 2000 }
}
EOF
}

# site_snmp_cli_conf USER AUTH PRIV: an snmp.conf for the net-snmp tools (snmpwalk, snmpget) with
# SNMPv3 authPriv as USER (SHA, AES) by default; the lab's supervision and tests/e2e/snmp_test.sh.
site_snmp_cli_conf() {
  printf '%s\n' "defVersion 3" "defSecurityName $1" "defSecurityLevel authPriv" "defAuthType SHA" \
    "defAuthPassphrase $2" "defPrivType AES" "defPrivPassphrase $3"
}
