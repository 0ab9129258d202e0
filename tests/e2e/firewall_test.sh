#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The firewall in the lab (docs/firewall.md), as a new user would try it, with a route on the
# core router to the site's LAN:
#   - from inet, ping, TCP and UDP to lan1 get nothing back and are counted as wan→lan denials;
#   - lan1 reaches inet and dc1, and ICMP errors about its traffic come back (traceroute from
#     lan1 shows the hops past the edge);
#   - a port forward (fiber tcp 8080 → lan1:80) makes inet reach lan1's web server, and nothing
#     else on lan1 (its routed address, another port);
#   - a SYN flood from inet (hping3 -i u50, random sources, ~7-10 k packets/s here for 10 s) at the forwarded
#     port leaves lan1's iperf3 to inet within 10 % of its rate without the flood, its flow
#     untouched, the service's new flows held to its rate and the WAN-opened flows within
#     their share of the table;
#   - lan1 spoofing another segment's address (or one outside the LAN) is dropped and counted.
# Usage: firewall_test.sh BUILD_DIR
set -euo pipefail

# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_init "$1" fw hping3 traceroute iperf3 curl
on_fail() {
  "$lab" exec edge traboulectl firewall 2>&1 | head -60 || true
}
# counter NAME: a data-plane counter of the edge (0 when absent).
counter() {
  "$lab" exec edge traboulectl --json counters "$1" 2>/dev/null |
    "$py" -c 'import json,sys; d=json.load(sys.stdin); c=d.get("counters", d); print(c.get(sys.argv[1], 0))' "$1"
}
iperf_mbps() {  # iperf_mbps SECONDS OUT: lan1 → inet TCP (the "internet" rule: fiber breakout)
  "$lab" exec lan1 iperf3 -c 198.51.100.10 -p 5299 -t "$1" -J >"$2" 2>&1 || fail "iperf3: $(tail -5 "$2")"
  "$py" -c 'import json,sys; print(round(json.load(open(sys.argv[1]))["end"]["sum_received"]["bits_per_second"] / 1e6, 1))' "$2"
}

"$lab" up --clean --no-supervision >"$work/up.txt" 2>&1 || { cat "$work/up.txt"; fail "lab up"; }
pass "lab '$name' up"
# The site's LAN routed to the edge's fiber address, as an operator's network would.
ip netns exec "$(ns core)" ip route replace 192.168.10.0/24 via 100.64.1.2
ip netns exec "$(ns core)" ip -6 route replace fd00:10::/64 via fd00:64:1::2
ip netns exec "$(ns lan1)" timeout 300 "$py" -m http.server 80 --bind :: >/dev/null 2>&1 &
ip netns exec "$(ns lan1)" timeout 300 "$py" -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("0.0.0.0", 7000))
n = 0
s.settimeout(240)
try:
    while True:
        s.recvfrom(2048); n += 1
        open(sys.argv[1], "w").write(str(n))
except socket.timeout:
    pass' "$work/udp-count" &
ip netns exec "$(ns inet)" iperf3 -s -D -p 5299 >/dev/null 2>&1
sleep 1

# 1. Nothing from the internet reaches lan1.
d0=$(counter firewall.denied.wan_lan)
if ip netns exec "$(ns inet)" ping -c 3 -i 0.2 -W 1 192.168.10.11 >/dev/null 2>&1; then
  fail "inet pings lan1"
fi
if ip netns exec "$(ns inet)" ping -6 -c 2 -i 0.2 -W 1 fd00:10::11 >/dev/null 2>&1; then
  fail "inet pings lan1 over IPv6"
fi
code=$(ip netns exec "$(ns inet)" curl -s -m 3 -o /dev/null -w '%{http_code}' http://192.168.10.11/ || true)
[ "$code" = 000 ] || fail "inet reaches lan1's web server (HTTP $code)"
ip netns exec "$(ns inet)" "$py" -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(20): s.sendto(b"x" * 32, ("192.168.10.11", 7000))'
sleep 1
[ ! -s "$work/udp-count" ] || fail "UDP from inet reached lan1 ($(cat "$work/udp-count") datagrams)"
d1=$(counter firewall.denied.wan_lan)
[ $((d1 - d0)) -ge 26 ] || fail "wan→lan denials counted: +$((d1 - d0)), expected >= 26 (3+2 pings, SYNs, 20 UDP)"
pass "inet → lan1: ping (v4, v6), TCP 80 and UDP 7000 get nothing; firewall.denied.wan_lan +$((d1 - d0))"

# 2. lan1's own traffic works, ICMP errors about it included.
for url in http://198.51.100.10/ http://10.10.0.10/; do
  code=$(ip netns exec "$(ns lan1)" curl -s -m 5 -o /dev/null -w '%{http_code}' "$url" || true)
  [ "$code" = 200 ] || fail "lan1 → $url: HTTP $code"
done
pass "lan1 reaches inet and dc1 (HTTP 200)"
tr=$(ip netns exec "$(ns lan1)" traceroute -n -q 1 -w 2 -m 6 198.51.100.10 2>&1 || true)
grep -qE '^ *[0-9]+ +100\.64\.1\.1 ' <<<"$tr" || fail "traceroute shows the core router past the edge: $tr"
grep -qE '^ *[0-9]+ +198\.51\.100\.10 ' <<<"$tr" || fail "traceroute reaches inet: $tr"
[ "$(counter firewall.related_icmp)" -ge 2 ] || fail "related ICMP errors counted"
pass "traceroute from lan1 shows the hops past the edge ($(grep -cE '^ *[0-9]+ +[0-9.]+ ' <<<"$tr") answered)"

# 3. A port forward publishes lan1:80 as fiber:8080, and nothing else.
e2e_push_policy "port forward" 'p["firewall"] = {"port_forwards": [{"name": "lan1-web", "uplink": "fiber",
  "proto": "tcp", "port": 8080, "to": "192.168.10.11", "to_port": 80, "log": True}],
  "inbound": [{"name": "refuse-telnet", "from": "wan", "proto": "tcp", "dst_ports": [23],
               "action": "reject"}]}'
sleep 0.5
# A reject rule: the connection is refused at once (RST), not left to time out.
t0=$(date +%s%N)
rc=0
ip netns exec "$(ns inet)" curl -s -m 5 telnet://192.168.10.11:23 </dev/null >/dev/null 2>&1 || rc=$?
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
[ "$rc" = 7 ] && [ "$ms" -lt 2000 ] || fail "reject rule: curl to lan1:23 should be refused at once (rc $rc after $ms ms)"
[ "$(counter firewall.rejects_sent)" -ge 1 ] || fail "firewall.rejects_sent did not move"
pass "reject rule: inet → lan1:23 refused in $ms ms (TCP RST from the edge)"
code=$(ip netns exec "$(ns inet)" curl -s -m 5 -o /dev/null -w '%{http_code}' http://100.64.1.2:8080/ || true)
[ "$code" = 200 ] || fail "inet → fiber:8080 → lan1:80: HTTP $code"
for url in http://100.64.1.2:8081/ http://100.64.1.2:80/ http://192.168.10.11/ http://192.168.10.12/; do
  code=$(ip netns exec "$(ns inet)" curl -s -m 2 -o /dev/null -w '%{http_code}' "$url" || true)
  [ "$code" = 000 ] || fail "inet → $url answered (HTTP $code): only the forward may"
done
pass "port forward: inet → 100.64.1.2:8080 reaches lan1's web server; :8081, :80, lan1 and lan2 directly do not"

# 4. A SYN flood at the forwarded port does not starve lan1's traffic.
base=$(iperf_mbps 5 "$work/base.json")
f0=$(counter nat_in.port_forwarded)
s0=$(( $(counter firewall.flood_table_share) + $(counter firewall.flood_destination_rate) ))
ip netns exec "$(ns inet)" timeout 10 hping3 -q -S -p 8080 --rand-source -i u50 100.64.1.2 \
  >"$work/hping.txt" 2>&1 &
hping=$!
sleep 1
during=$(iperf_mbps 7 "$work/flood.json")
wait "$hping" || true
f1=$(counter nat_in.port_forwarded)
s1=$(( $(counter firewall.flood_table_share) + $(counter firewall.flood_destination_rate) ))
wan=$(counter flow.wan_opened)
cap=$("$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))["flows"]["capacity"])' \
  "$(ls /run/traboule-lab/"$name"/edge/*.json | grep -v policy | head -n1)" 2>/dev/null || echo 65536)
sent=$(grep -oE '^[0-9]+ packets transmitted' "$work/hping.txt" | cut -d' ' -f1 || echo 0)
echo "flood: hping3 sent ${sent:-?} SYNs in 10 s; nat_in.port_forwarded +$((f1 - f0)), refused by the flood limits (destination rate, table share) +$((s1 - s0)), flow.wan_opened $wan"
echo "iperf3 lan1 → inet: ${base} Mbit/s alone, ${during} Mbit/s under the flood"
"$py" -c 'import sys; b, d = float(sys.argv[1]), float(sys.argv[2]); sys.exit(0 if d >= 0.9 * b else 1)' \
  "$base" "$during" || fail "lan1's iperf3 fell from $base to $during Mbit/s under the flood (> 10 %)"
[ "${sent:-0}" -ge 50000 ] || fail "the flood was too weak to mean anything (${sent:-0} SYNs)"
[ $((s1 - s0)) -gt 0 ] || fail "the flood limits never engaged"
[ "$wan" -le $((cap / 4 + 1)) ] || fail "WAN-opened flows $wan above 25 % of the table ($cap)"
pass "SYN flood: lan1's iperf3 $during Mbit/s vs $base alone (>= 90 %), WAN flows held at $wan"
# The flood is an event in the journal (docs/operations.md), once, with its rate.
"$lab" exec edge traboulectl --json events >"$work/events.json"
"$py" - "$work/events.json" <<'PYEOF2' || fail "the flood is not in the journal: $(tail -c 500 "$work/events.json")"
import json, sys
ev = [e for e in json.load(open(sys.argv[1]))["events"] if e["kind"] == "firewall"]
assert len(ev) == 1 and ev[0]["state"] == "flood" and ev[0]["incident"] == "P2", ev
print("ok: journal: " + ev[0]["text"])
PYEOF2

# 5. Anti-spoofing: lan1 sending as another segment's host, or as a host outside the LAN.
e2e_push_policy "segments" 'p["segments"] = [{"name": "hosts", "prefixes": ["192.168.10.0/24"]},
  {"name": "staff", "vlan": 100, "prefixes": ["10.50.0.0/24"]}]'
sleep 0.5
sp0=$(counter firewall.spoofed_lan_source)
ip netns exec "$(ns lan1)" hping3 -q -c 5 -i u10000 -S -p 80 -a 10.50.0.7 198.51.100.10 >/dev/null 2>&1 || true
ip netns exec "$(ns lan1)" hping3 -q -c 5 -i u10000 -S -p 80 -a 172.16.9.9 198.51.100.10 >/dev/null 2>&1 || true
sp1=$(counter firewall.spoofed_lan_source)
[ $((sp1 - sp0)) -ge 10 ] || fail "spoofed LAN sources counted: +$((sp1 - sp0)), expected 10"
code=$(ip netns exec "$(ns lan1)" curl -s -m 5 -o /dev/null -w '%{http_code}' http://198.51.100.10/ || true)
[ "$code" = 200 ] || fail "lan1's own address still works after the spoof (HTTP $code)"
pass "lan1 spoofing staff's 10.50.0.7 and 172.16.9.9: dropped, firewall.spoofed_lan_source +$((sp1 - sp0))"

"$lab" exec edge traboulectl firewall | sed -n '1,12p'
echo "firewall e2e: all checks passed"
