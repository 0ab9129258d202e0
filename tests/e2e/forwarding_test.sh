#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# End-to-end forwarding test: a lab (tools/lab up --clean --standalone, the edge with the
# example policy config/examples/edge-lab.policy.json and no overlay) between lan1 and inet,
# asserting that real UDP and TCP cross the edge in both directions (IPv4 on fiber and vdsl,
# IPv6 on fiber), exactly once and intact, on the uplink the policy's rules choose.
#   usage: forwarding_test.sh BUILD_DIR      (root; CTest passes its build dir)
# TB_WORKERS=2 runs the edge with two workers. Exit 0 = all assertions passed, 1 = a failure
# (details printed), 77 = skipped (not root).
set -euo pipefail

# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"
e2e_init "${1:-}" fwd
# shellcheck source=tools/lib/site_config.sh
source "$here/../../tools/lib/site_config.sh"
LAN4=$SITE_LAN1_4 LAN6=$SITE_LAN1_6 SERVER4=$SITE_INET4 SERVER6=$SITE_INET6

UDP_COUNT=2000   # datagrams per UDP burst
UDP_RATE=1000    # datagrams per second: modest, so a loss is a bug and not an overrun
TCP_BYTES=$((4 * 1024 * 1024))
SLACK=10         # packets tolerated on the uplink a test does not use (nothing else is forwarded)

# On failure: the counters, the kernel's view of the core's uplink veths, the edge's log.
on_fail() {
  [ -e "/run/netns/$(ns core)" ] || return 0
  echo "=== /traboule/uplinks (name link gateway tx_pkts tx_bytes rx_pkts rx_bytes)"
  uplinks || echo "(telemetry not answering)"
  echo "=== /traboule/counters"
  counters || echo "(telemetry not answering)"
  echo "=== kernel counters of the core's uplink veths (uplink rx_pkts rx_bytes tx_pkts tx_bytes)"
  local up f
  for up in fiber vdsl; do
    printf '%s' "$up"
    for f in rx_packets rx_bytes tx_packets tx_bytes; do
      printf ' %s' "$(ip netns exec "$(ns core)" cat "/sys/class/net/$up/statistics/$f")"
    done
    printf '\n'
  done
}
e2e_log_lines=60

# Per-uplink counters, one line each: name link gateway tx_pkts tx_bytes rx_pkts rx_bytes
# (tx = forwarded LAN -> that uplink, rx = forwarded that uplink -> LAN).
uplinks() {
  "$lab" telemetry edge /traboule/uplinks 2>/dev/null | "$py" -c '
import json, sys
d = json.load(sys.stdin).get("/traboule/uplinks")
if not isinstance(d, dict) or not d:
    sys.exit(1)
for name, u in d.items():
    print(name, u["link"], u["gateway"], u["tx_packets"], u["tx_bytes"], u["rx_packets"], u["rx_bytes"])
' 2>/dev/null
}
# Every non-zero data-plane counter, "name value" per line.
counters() {
  "$lab" telemetry edge /traboule/counters 2>/dev/null | "$py" -c '
import json, sys
for k, v in sorted((json.load(sys.stdin).get("/traboule/counters") or {}).items()):
    print(k, v)
' 2>/dev/null
}

# Reads the uplink counters into U[<uplink>.<field>]; "before"/"after" pairs give deltas.
declare -A U=() U0=()
snap() {
  local lines up link gw txp txb rxp rxb
  lines=$(uplinks) || {
    soft_fail "telemetry /traboule/uplinks answers" "tools/lab telemetry edge gave no JSON"
    return 1
  }
  U=()
  while read -r up link gw txp txb rxp rxb; do
    U[$up.link]=$link U[$up.gateway]=$gw
    U[$up.tx_packets]=$txp U[$up.tx_bytes]=$txb U[$up.rx_packets]=$rxp U[$up.rx_bytes]=$rxb
  done <<<"$lines"
}
mark() {
  snap || return 1
  U0=()
  local k
  for k in "${!U[@]}"; do U0[$k]=${U[$k]}; done
}
d() { echo $((${U[$1]:-0} - ${U0[$1]:-0})); }
deltas() {
  printf 'fiber tx %s pkts/%s B rx %s pkts/%s B; vdsl tx %s pkts/%s B rx %s pkts/%s B' \
    "$(d fiber.tx_packets)" "$(d fiber.tx_bytes)" "$(d fiber.rx_packets)" "$(d fiber.rx_bytes)" \
    "$(d vdsl.tx_packets)" "$(d vdsl.tx_bytes)" "$(d vdsl.rx_packets)" "$(d vdsl.rx_bytes)"
}

# Asserts one counter delta against a bound: expect <name> <uplink.field> ge|le <n>.
expect() {
  local what=$1 key=$2 op=$3 bound=$4 got
  got=$(d "$key")
  if { [ "$op" = ge ] && [ "$got" -ge "$bound" ]; } || { [ "$op" = le ] && [ "$got" -le "$bound" ]; }; then
    pass "$what: $key +$got ($op $bound)"
  else
    soft_fail "$what: $key +$got, expected $op $bound" "$(deltas)"
  fi
}

# One field of a traffic.py JSON result.
jget() { "$py" -c 'import json,sys; print(json.load(open(sys.argv[1])).get(sys.argv[2]))' "$1" "$2"; }

# Starts a receiver in one of the lab's hosts and waits (bounded) until it is bound.
start_receiver() {
  local host=$1 out=$2
  shift 2
  rm -f "$out.ready"
  ip netns exec "$(ns "$host")" timeout 60 "$py" "$traffic" "$@" --ready "$out.ready" >"$out" 2>&1 &
  RECV_PID=$!
  local i
  for ((i = 0; i < 200; i++)); do
    [ -e "$out.ready" ] && return 0
    sleep 0.05
  done
  soft_fail "receiver started on $host: $*" "$(cat "$out" 2>/dev/null)"
  return 1
}
# run_on HOST CMD...: CMD in that host's namespace.
run_on() {
  local host=$1
  shift
  ip netns exec "$(ns "$host")" "$@"
}

# A counted UDP burst with echo: every datagram must arrive once, and its echo come back once.
#   udp_case LABEL FROM_HOST TO_HOST DST_ADDR PORT [SRC_ADDR]
udp_case() {
  local label=$1 from=$2 to=$3 dst=$4 port=$5 src=${6:-}
  local out="$work/$label.recv.json" sout="$work/$label.send.json"
  local bind=(); [ -z "$src" ] || bind=(--bind "$src")
  start_receiver "$to" "$out" udp-recv --bind "$dst" --port "$port" --count "$UDP_COUNT" --echo || return 0
  run_on "$from" timeout 60 "$py" "$traffic" udp-send --to "$dst" --port "$port" --count "$UDP_COUNT" \
    --rate "$UDP_RATE" --echo "${bind[@]}" >"$sout" 2>&1 || true
  wait "$RECV_PID" || true
  local uniq dups eu ed
  uniq=$(jget "$out" unique 2>/dev/null || echo "?") dups=$(jget "$out" duplicates 2>/dev/null || echo "?")
  eu=$(jget "$sout" echo_unique 2>/dev/null || echo "?") ed=$(jget "$sout" echo_duplicates 2>/dev/null || echo "?")
  if [ "$uniq" = "$UDP_COUNT" ] && [ "$dups" = 0 ]; then
    pass "$label: $UDP_COUNT/$UDP_COUNT datagrams arrived exactly once ($from -> $to)"
  else
    soft_fail "$label: receiver got $uniq distinct of $UDP_COUNT, $dups duplicate(s)" "receiver: $(cat "$out")" "sender: $(cat "$sout")"
  fi
  if [ "$eu" = "$UDP_COUNT" ] && [ "$ed" = 0 ]; then
    pass "$label: $UDP_COUNT/$UDP_COUNT echoes came back exactly once ($to -> $from)"
  else
    soft_fail "$label: sender got $eu distinct echoes of $UDP_COUNT, $ed duplicate(s)" "sender: $(cat "$sout")"
  fi
}

# A TCP transfer whose byte count and SHA-256 the receiver confirms on the same connection.
#   tcp_case LABEL FROM_HOST TO_HOST DST_ADDR PORT [SRC_ADDR]
tcp_case() {
  local label=$1 from=$2 to=$3 dst=$4 port=$5 src=${6:-}
  local out="$work/$label.recv.json" sout="$work/$label.send.json"
  local bind=(); [ -z "$src" ] || bind=(--bind "$src")
  start_receiver "$to" "$out" tcp-recv --bind "$dst" --port "$port" || return 0
  local rc=0
  run_on "$from" timeout 60 "$py" "$traffic" tcp-send --to "$dst" --port "$port" --bytes "$TCP_BYTES" \
    "${bind[@]}" >"$sout" 2>&1 || rc=$?
  wait "$RECV_PID" || true
  if [ "$rc" -eq 0 ]; then
    pass "$label: $TCP_BYTES bytes, SHA-256 confirmed by the receiver ($(jget "$sout" mbit_s) Mbit/s)"
  else
    soft_fail "$label: TCP transfer incomplete or corrupted" "sender: $(cat "$sout")" "receiver: $(cat "$out" 2>/dev/null)"
  fi
}

# Ping with a few tries: the first one may wait for ARP/ND on either side.
ping_case() {
  local what=$1 addr=$2 out
  if out=$(run_on lan1 ping -c 3 -i 0.2 -W 2 "$addr" 2>&1); then
    pass "$what: ping $addr ($(grep -o '[0-9]* received' <<<"$out"))"
  else
    soft_fail "$what: ping $addr" "$(tail -n 2 <<<"$out")"
  fi
}

main() {
  local workers=${TB_WORKERS:-1} start=$SECONDS
  echo "e2e forwarding: lab $name, build $build, $workers worker(s)"
  # The example policy plus what the inet->lan cases need: the firewall denies connections
  # opened from the internet unless an inbound rule allows them (docs/firewall.md), and the
  # lab edge's third uplink, 4g, as an unused backup. No peer: the "overlay" rules leave
  # natively, without the hub.
  local to_lan1="\"dst_prefixes\": [\"$LAN4/32\", \"$LAN6/128\"]"
  "$py" "$json_edit" "$here/../../config/examples/edge-lab.policy.json" \
    --out "$work/policy.json" \
    "p['uplinks'].append({'name': '4g', 'kind': '4g', 'role': 'backup', 'up_kbps': 12000})" \
    "p['firewall'] = {'inbound': [
      {'name': 'test-udp-7000', 'from': 'wan', 'proto': 'udp', 'dst_ports': [7000], $to_lan1,
       'action': 'allow'},
      {'name': 'test-tcp-8080', 'from': 'wan', 'proto': 'tcp', 'dst_ports': [8080], $to_lan1,
       'action': 'allow', 'log': True}]}"
  if "$lab" up --clean --standalone --no-supervision --workers "$workers" \
    --edge-policy "$work/policy.json" >"$work/up.txt" 2>&1; then
    pass "lab up, trabouled ready, gateways resolved ($((SECONDS - start)) s after start)"
  else
    fail "lab up with the example policy" "$(tail -n 40 "$work/up.txt")"
  fi

  ping_case "edge LAN address (IPv4)" "$SITE_EDGE_LAN4"
  ping_case "edge LAN address (IPv6)" "$SITE_EDGE_LAN6"
  ping_case "inet server through the edge (IPv4)" "$SERVER4"
  ping_case "inet server through the edge (IPv6)" "$SERVER6"

  local n=$UDP_COUNT
  # UDP to 5060 matches the "voice" rule: fiber.
  mark
  udp_case udp4-lan-to-inet lan1 inet "$SERVER4" 5060
  snap
  expect "udp4 lan->inet port 5060 leaves on fiber" fiber.tx_packets ge "$n"
  expect "udp4 lan->inet echoes return on fiber" fiber.rx_packets ge "$n"
  expect "udp4 lan->inet stays off vdsl" vdsl.tx_packets le "$SLACK"

  # Started from the inet side towards the LAN host: in on fiber (inet's main route), and the
  # LAN host's replies go out by the default rule: fiber.
  mark
  udp_case udp4-inet-to-lan inet lan1 "$LAN4" 7000 "$SERVER4"
  snap
  expect "udp4 inet->lan arrives on fiber" fiber.rx_packets ge "$n"
  expect "udp4 inet->lan replies leave on fiber" fiber.tx_packets ge "$n"
  expect "udp4 inet->lan stays off vdsl" vdsl.tx_packets le "$SLACK"

  # Not allowed by any inbound rule: nothing reaches the LAN host, and the firewall counts it.
  local denied0 denied1 out="$work/udp-denied.recv.json"
  denied0=$(counters | awk '$1 == "firewall/denied/wan_lan" {print $2}')
  start_receiver lan1 "$out" udp-recv --bind "$LAN4" --port 7001 --count 50 --timeout 3 || true
  run_on inet timeout 20 "$py" "$traffic" udp-send --to "$LAN4" --port 7001 --count 50 \
    --rate 100 --bind "$SERVER4" >/dev/null 2>&1 || true
  wait "$RECV_PID" || true
  denied1=$(counters | awk '$1 == "firewall/denied/wan_lan" {print $2}')
  local got
  got=$(jget "$out" unique 2>/dev/null || echo 0)
  if [ "${got:-0}" = 0 ] && [ $((${denied1:-0} - ${denied0:-0})) -ge 50 ]; then
    pass "udp4 inet->lan port 7001 (no inbound rule): 0 arrived, firewall.denied.wan_lan +$((${denied1:-0} - ${denied0:-0}))"
  else
    soft_fail "udp4 inet->lan port 7001 must be denied" "arrived: $got, firewall.denied.wan_lan ${denied0:-?} -> ${denied1:-?}" \
      "$(counters | grep -E '^(firewall|flow)/' | tr '\n' ' ')" "$(cat "$out" 2>/dev/null)"
  fi

  mark
  udp_case udp6-lan-to-inet lan1 inet "$SERVER6" 5060
  snap
  expect "udp6 lan->inet leaves on fiber" fiber.tx_packets ge "$n"
  expect "udp6 lan->inet echoes return on fiber" fiber.rx_packets ge "$n"

  mark
  udp_case udp6-inet-to-lan inet lan1 "$LAN6" 7000 "$SERVER6"
  snap
  expect "udp6 inet->lan arrives on fiber" fiber.rx_packets ge "$n"
  expect "udp6 inet->lan replies leave on fiber" fiber.tx_packets ge "$n"

  # TCP 5201 matches "bulk-to-vdsl"; the inet side routes the replies back on vdsl (connmark).
  mark
  tcp_case tcp4-5201-lan-to-inet lan1 inet "$SERVER4" 5201
  snap
  expect "tcp4 port 5201 leaves on vdsl" vdsl.tx_bytes ge "$TCP_BYTES"
  expect "tcp4 port 5201 ACKs return on vdsl" vdsl.rx_packets ge 100
  expect "tcp4 port 5201 stays off fiber" fiber.tx_packets le "$SLACK"

  # Any other TCP port takes the default rule: fiber.
  mark
  tcp_case tcp4-8080-lan-to-inet lan1 inet "$SERVER4" 8080
  snap
  expect "tcp4 port 8080 leaves on fiber" fiber.tx_bytes ge "$TCP_BYTES"
  expect "tcp4 port 8080 ACKs return on fiber" fiber.rx_packets ge 100
  expect "tcp4 port 8080 stays off vdsl" vdsl.tx_packets le "$SLACK"

  mark
  tcp_case tcp4-inet-to-lan inet lan1 "$LAN4" 8080 "$SERVER4"
  snap
  expect "tcp4 inet->lan arrives on fiber" fiber.rx_bytes ge "$TCP_BYTES"
  expect "tcp4 inet->lan ACKs leave on fiber" fiber.tx_packets ge 100

  mark
  tcp_case tcp6-lan-to-inet lan1 inet "$SERVER6" 8080
  snap
  expect "tcp6 lan->inet leaves on fiber" fiber.tx_bytes ge "$TCP_BYTES"

  mark
  tcp_case tcp6-inet-to-lan inet lan1 "$LAN6" 8080 "$SERVER6"
  snap
  expect "tcp6 inet->lan arrives on fiber" fiber.rx_bytes ge "$TCP_BYTES"

  # Totals seen by telemetry, to compare with the final summary after SIGTERM.
  snap
  local tel_vdsl_tx=${U[vdsl.tx_bytes]:-0} tel_fiber_tx=${U[fiber.tx_bytes]:-0}

  local rc=0 stop_out edge_log="$state/logs/edge.log"
  stop_out=$("$lab" stop edge 2>&1) || rc=$?
  if [ "$rc" -eq 0 ] && grep -q '^trabouled: stopped' "$edge_log"; then
    pass "trabouled stopped cleanly on SIGTERM"
  else
    soft_fail "trabouled stops cleanly on SIGTERM (exit $rc)" "$stop_out"
  fi
  local fline vline ftx vtx
  fline=$(grep -E '^ +uplink fiber ' "$edge_log" || true)
  vline=$(grep -E '^ +uplink vdsl ' "$edge_log" || true)
  ftx=$(sed -nE 's/.* tx [0-9]+ pkts ([0-9]+) bytes.*/\1/p' <<<"$fline")
  vtx=$(sed -nE 's/.* tx [0-9]+ pkts ([0-9]+) bytes.*/\1/p' <<<"$vline")
  if [ -n "$ftx" ] && [ -n "$vtx" ] && [ "$vtx" -ge "$TCP_BYTES" ] && [ "$ftx" -ge $((2 * TCP_BYTES)) ] &&
    [ "$vtx" -ge "$tel_vdsl_tx" ] && [ "$ftx" -ge "$tel_fiber_tx" ]; then
    pass "final summary: fiber tx $ftx B, vdsl tx $vtx B (consistent with telemetry)"
  else
    soft_fail "final summary per-uplink counters" "fiber: ${fline:-missing}" "vdsl: ${vline:-missing}" \
      "telemetry last saw fiber tx $tel_fiber_tx B, vdsl tx $tel_vdsl_tx B"
  fi

  echo
  echo "--- trabouled final summary"
  sed -n '/^trabouled: final counters/,$p' "$edge_log"
  echo
  e2e_summary
}

main
