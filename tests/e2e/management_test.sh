#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The box in its network (docs/kernel.md), in the lab with kernel twins (tools/lab up --twins):
#   - every data-plane port has its twin in the edge's namespace, same MAC, same addresses;
#   - from lan1, ssh (IPv4 and IPv6) to the edge's LAN address runs a command, and traboulectl
#     works against https://192.168.10.1:8443;
#   - from lan1, snmpwalk (v3 authPriv) lists the data-plane ports in IF-MIB;
#   - from inet, ssh, SNMP and the API on the fiber address, and on the LAN address routed through
#     fiber, get nothing, counted as punt.not_allowed;
#   - the box's own traffic obeys the policy: the edge's kernel reaches dc1 through the overlay
#     and inet through the breakout (NAT), their answers come back to it;
#   - a SYN flood from lan1 at the LAN address (hping3 --flood) leaves lan1's iperf3 to inet
#     within 10 % of its rate without the flood, and the kernel gets no more than the policed
#     management rate (2000/s + the bucket);
#   - a crashed daemon leaves no twin behind: the restarted one makes them again and ssh works.
# dc1 → edge management through the overlay needs the hub to route to the site (issue 16).
# Usage: management_test.sh BUILD_DIR
set -euo pipefail

# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_init "$1" mg hping3 iperf3 curl ssh /usr/sbin/sshd nft
e2e_need_tun
on_fail() {
  "$lab" exec edge traboulectl counters 2>&1 | grep -E "punt|twin|local\." | head -60 || true
  tail -n 10 "$state/logs/edge-sshd.log" 2>/dev/null || true
}
counter() {
  "$lab" exec edge traboulectl --json counters "$1" 2>/dev/null |
    "$py" -c 'import json,sys; d=json.load(sys.stdin); c=d.get("counters", d); print(c.get(sys.argv[1], 0))' "$1"
}
edge_ssh() {  # edge_ssh FROM ADDRESS COMMAND...
  local from=$1 addr=$2
  shift 2
  ip netns exec "$(ns "$from")" timeout 20 ssh -i "$state/ssh/id" -o BatchMode=yes \
    -o ConnectTimeout=5 -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
    -o LogLevel=ERROR "root@$addr" "$@"
}
ctl_from() {  # ctl_from HOST ADDRESS ARGS...
  local from=$1 addr=$2
  shift 2
  ip netns exec "$(ns "$from")" timeout 20 "$build/tools/traboulectl/traboulectl" \
    --server "https://$addr:8443" --ca "$state/edge/api.crt" --token-file "$state/tokens/viewer" "$@"
}
iperf_mbps() {  # iperf_mbps SECONDS OUT: lan1 → inet TCP through the fiber breakout
  ip netns exec "$(ns lan1)" iperf3 -c 198.51.100.10 -p 5299 -t "$1" -J >"$2" 2>&1 || fail "iperf3: $(tail -5 "$2")"
  "$py" -c 'import json,sys; print(round(json.load(open(sys.argv[1]))["end"]["sum_received"]["bits_per_second"] / 1e6, 1))' "$2"
}

"$lab" up --twins >"$work/up.txt" 2>&1 || { cat "$work/up.txt"; fail "lab up --twins"; }
pass "lab '$name' up with kernel twins"

# Twins: one per port, the port's MAC (the af_packet veth's), the port's addresses.
for p in lan fiber vdsl 4g; do
  ip netns exec "$(ns edge)" ip -br link show "tw-$p" >/dev/null 2>&1 || fail "no twin tw-$p"
  m_port=$(ip netns exec "$(ns edge)" cat "/sys/class/net/$p/address")
  m_twin=$(ip netns exec "$(ns edge)" cat "/sys/class/net/tw-$p/address")
  [ "$m_port" = "$m_twin" ] || fail "tw-$p has MAC $m_twin, the port $m_port"
done
ip netns exec "$(ns edge)" ip -br addr show tw-lan | grep -q "192.168.10.1/24" || fail "tw-lan lacks 192.168.10.1/24"
ip netns exec "$(ns edge)" ip -br addr show tw-fiber | grep -q "100.64.1.2/24" || fail "tw-fiber lacks 100.64.1.2/24"
pass "twins tw-lan, tw-fiber, tw-vdsl, tw-4g: the ports' MACs and addresses"

# Management from the LAN.
out=$(edge_ssh lan1 192.168.10.1 'echo traboule-ssh-ok; ip -br link show tw-lan') || fail "ssh from lan1 to 192.168.10.1"
grep -q traboule-ssh-ok <<<"$out" || fail "ssh ran nothing: $out"
out6=$(edge_ssh lan1 fd00:10::1 'echo traboule-ssh6-ok') || fail "ssh from lan1 to fd00:10::1"
grep -q traboule-ssh6-ok <<<"$out6" || fail "ssh over IPv6 ran nothing: $out6"
pass "ssh from lan1 to the edge's LAN address runs a command (IPv4 and IPv6)"
ctl_from lan1 192.168.10.1 links >"$work/links.txt" 2>&1 || fail "traboulectl from lan1: $(cat "$work/links.txt")"
grep -q fiber "$work/links.txt" || fail "traboulectl links from lan1 lists no fiber"
pass "traboulectl from lan1 against https://192.168.10.1:8443"
[ "$(counter punt.passed_management)" -gt 0 ] || fail "punt.passed_management did not move"

# SNMP (v3 authPriv, the lab's user) from lan1 to the LAN address: the data-plane ports.
if command -v snmpwalk >/dev/null && [ -d "$state/edge/snmp/cli" ]; then
  snmp_from() {  # snmp_from HOST ADDRESS OID
    ip netns exec "$(ns "$1")" env SNMPCONFPATH="$state/edge/snmp/cli" \
      SNMP_PERSISTENT_DIR="$work/snmp-$1" MIBS= timeout 20 snmpwalk -t 2 -r 1 -On "$2" "$3"
  }
  for _ in $(seq 1 30); do  # the subagent registers a few seconds after snmpd starts
    snmp_from lan1 192.168.10.1 1.3.6.1.2.1.2.2.1.2 >"$work/ifdescr.txt" 2>&1 || true
    grep -q fiber "$work/ifdescr.txt" && break
    sleep 1
  done
  grep -q '"lan"\|lan' "$work/ifdescr.txt" && grep -q fiber "$work/ifdescr.txt" ||
    fail "snmpwalk from lan1 to 192.168.10.1 lists no data-plane ports: $(head -5 "$work/ifdescr.txt")"
  pass "snmpwalk (v3 authPriv) from lan1 to 192.168.10.1: IF-MIB lists $(grep -c . "$work/ifdescr.txt") interfaces"
  snmp_inet=$(snmp_from inet 100.64.1.2 1.3.6.1.2.1.1 2>&1 || true)
  grep -qi "timeout" <<<"$snmp_inet" || fail "inet's snmpwalk to the fiber address got: $snmp_inet"
  pass "snmpwalk from inet to the fiber address: no answer"
fi

# Nothing from the internet: the fiber address, and the LAN address routed to fiber.
ip netns exec "$(ns core)" ip route replace 192.168.10.0/24 via 100.64.1.2
na0=$(counter punt.not_allowed)
for a in 100.64.1.2 192.168.10.1; do
  if ip netns exec "$(ns inet)" timeout 10 ssh -o BatchMode=yes -o ConnectTimeout=3 \
    -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null "root@$a" true 2>"$work/ssh-inet.txt"; then
    fail "inet logged in to $a"
  fi
  grep -qiE "timed out|timeout" "$work/ssh-inet.txt" || fail "inet's ssh to $a got an answer: $(cat "$work/ssh-inet.txt")"
  code=$(ip netns exec "$(ns inet)" curl -sk -m 3 -o /dev/null -w '%{http_code}' "https://$a:8443/api/v1/status" || true)
  [ "$code" = 000 ] || fail "inet reached the API on $a (HTTP $code)"
done
na1=$(counter punt.not_allowed)
[ "$na1" -ge $((na0 + 4)) ] || fail "punt.not_allowed went from $na0 to $na1 only"
pass "inet reaches neither ssh nor the API (fiber address, LAN address): punt.not_allowed +$((na1 - na0))"

# The box's own traffic goes where the policy says.
inj0=$(counter twin.injected)
c=$(ip netns exec "$(ns edge)" curl -s -m 5 -o /dev/null -w '%{http_code}' http://10.10.0.10/ || true)
[ "$c" = 200 ] || fail "the edge's kernel cannot reach dc1 through the overlay (HTTP $c)"
c=$(ip netns exec "$(ns edge)" curl -s -m 5 -o /dev/null -w '%{http_code}' http://198.51.100.10/ || true)
[ "$c" = 200 ] || fail "the edge's kernel cannot reach inet through the breakout (HTTP $c)"
[ "$(counter twin.injected)" -gt "$inj0" ] || fail "twin.injected did not move"
[ "$(counter punt.passed_box)" -gt 0 ] || fail "the breakout's answers were not punted as the box's (punt.passed_box)"
pass "the edge's own traffic: dc1 through the overlay, inet through the breakout, answers back"

# A SYN flood at the box from the LAN: the forwarding keeps its rate, the kernel its policed rate.
ip netns exec "$(ns inet)" iperf3 -s -D -p 5299 >/dev/null 2>&1
sleep 1
base=$(iperf_mbps 8 "$work/iperf-base.json")
p0=$(counter punt.passed_management)
q0=$(counter punt.policed_management)
r0=$(counter port.lan.rx_packets)
t0=$(date +%s.%N)
ip netns exec "$(ns lan1)" timeout 10 hping3 -S -p 22 --flood 192.168.10.1 >/dev/null 2>&1 &
flood_pid=$!
sleep 0.5
under=$(iperf_mbps 8 "$work/iperf-flood.json")
wait "$flood_pid" || true
t1=$(date +%s.%N)
sleep 1
p1=$(counter punt.passed_management)
q1=$(counter punt.policed_management)
r1=$(counter port.lan.rx_packets)
read -r secs pps kernel_pps <<<"$(awk -v a="$t0" -v b="$t1" -v r=$((r1 - r0)) -v p=$((p1 - p0)) \
  'BEGIN { s = b - a; printf "%.1f %d %d", s, r / s, p / s }')"
echo "iperf3 lan1 -> inet: ${base} Mbit/s alone, ${under} Mbit/s under the flood; LAN port ${pps} packets/s for ${secs} s; kernel got ${kernel_pps}/s, policed $((q1 - q0))"
awk -v a="$base" -v b="$under" 'BEGIN { exit !(b >= 0.9 * a) }' ||
  fail "the flood cost lan1's iperf3 more than 10 % ($base -> $under Mbit/s)"
[ $((q1 - q0)) -gt 0 ] || fail "nothing was policed: was there a flood?"
# 2000/s per worker (one here) over the flood plus its bucket (500) and the time around it.
max_passed=$(awk -v s="$secs" 'BEGIN { printf "%d", 2000 * (s + 1) + 500 }')
[ $((p1 - p0)) -le "$max_passed" ] || fail "the kernel got $((p1 - p0)) flood packets, above $max_passed"
pass "SYN flood at the LAN address: iperf3 $base -> $under Mbit/s, kernel held to its rate"

# A crash leaves no twin: the restarted daemon creates them again.
"$lab" restart edge --crash >"$work/restart.txt" 2>&1 || fail "restart --crash: $(cat "$work/restart.txt")"
for _ in $(seq 1 50); do
  out=$(edge_ssh lan1 192.168.10.1 'echo traboule-ssh-ok' 2>/dev/null || true)
  grep -q traboule-ssh-ok <<<"$out" && break
  sleep 0.4
done
grep -q traboule-ssh-ok <<<"$out" || fail "ssh after the crash and restart"
n=$(ip netns exec "$(ns edge)" ip -br link | grep -c '^tw-' || true)
[ "$n" = 4 ] || fail "$n twins after the restart, expected 4"
rules=$(ip netns exec "$(ns edge)" ip rule | grep -c 'lookup 1700[0-9]' || true)
[ "$rules" = 3 ] || fail "$rules uplink rules after the restart, expected 3 (one per uplink)"
pass "after a crash: 4 twins, 3 uplink rules, ssh works"

"$lab" down >/dev/null 2>&1
ip netns list | grep -q "tblab-$name-" && fail "namespaces left after down"
echo "PASS: management through the kernel twins"
