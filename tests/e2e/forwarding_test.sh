#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# End-to-end forwarding test: builds the lab site in network namespaces with names of its own
# (tools/lib/netns.sh), runs the given trabouled between a LAN host and an "inet" server, and
# asserts that real UDP and TCP cross it in both directions (IPv4 on both uplinks, IPv6 on
# fiber), exactly once and intact, on the uplink the config's rules choose.
#   usage: forwarding_test.sh /path/to/trabouled      (root; CTest passes the built binary)
# Exit 0 = all assertions passed, 1 = a failure (details printed), 77 = skipped (not root).
set -euo pipefail

BIN=${1:-}
if [ -z "$BIN" ] || [ "$BIN" = -h ] || [ "$BIN" = --help ]; then
  sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "SKIP: the e2e test needs root (network namespaces, DPDK af_packet)"
  exit 77
fi
BIN=$(realpath "$BIN")
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=SCRIPTDIR/../../tools/lib/netns.sh
source "$HERE/../../tools/lib/netns.sh"

UDP_COUNT=2000   # datagrams per UDP burst
UDP_RATE=1000    # datagrams per second: modest, so a loss is a bug and not an overrun
TCP_BYTES=$((4 * 1024 * 1024))
SLACK=10         # packets tolerated on the uplink a test does not use (nothing else is forwarded)

FAILED=()
PASSED=0
START=$SECONDS

pass() {
  PASSED=$((PASSED + 1))
  printf 'PASS  %s\n' "$1"
}
fail() {
  FAILED+=("$1")
  printf 'FAIL  %s\n' "$1"
  shift
  local line
  for line in "$@"; do printf '        %s\n' "$line"; done
}

# On any exit with failures: the counters, then trabouled's own last words (its final summary
# comes from stopping it here, before the teardown).
tb_on_exit() {
  local rc=$1
  [ "$rc" -ne 0 ] || return 0
  echo
  case $rc in
    130 | 143) echo "=== e2e forwarding INTERRUPTED (exit $rc) after $PASSED passed assertion(s)" ;;
    *) echo "=== e2e forwarding FAILED (exit $rc): ${#FAILED[@]} failed assertion(s), $PASSED passed" ;;
  esac
  local f
  for f in "${FAILED[@]}"; do echo "  - $f"; done
  if tb_alive; then
    echo "=== /traboule/uplinks (name link gateway tx_pkts tx_bytes rx_pkts rx_bytes)"
    tb_uplinks || echo "(telemetry not answering)"
    echo "=== /traboule/counters"
    tb_counters || echo "(telemetry not answering)"
    tb_stop_trabouled || true
  fi
  echo "=== kernel counters of the inet-side veths (uplink rx_pkts rx_bytes tx_pkts tx_bytes)"
  tb_veth_stats 2>/dev/null || true
  echo "=== last 60 lines of trabouled's output ($TB_LOG)"
  tail -n 60 "$TB_LOG" 2>/dev/null || echo "(no output)"
}

# Reads the uplink counters into U[<uplink>.<field>]; "before"/"after" pairs give deltas.
declare -A U=() U0=()
snap() {
  local lines name link gw txp txb rxp rxb
  lines=$(tb_uplinks) || {
    fail "telemetry /traboule/uplinks answers" "dpdk-telemetry.py -f $TB_PREFIX gave no JSON"
    return 1
  }
  U=()
  while read -r name link gw txp txb rxp rxb; do
    U[$name.link]=$link U[$name.gateway]=$gw
    U[$name.tx_packets]=$txp U[$name.tx_bytes]=$txb U[$name.rx_packets]=$rxp U[$name.rx_bytes]=$rxb
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
    fail "$what: $key +$got, expected $op $bound" "$(deltas)"
  fi
}

# One field of a traffic.py JSON result.
jget() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get(sys.argv[2]))' "$1" "$2"; }

# Starts a receiver in one namespace and waits (bounded) until it is bound.
start_receiver() {
  local ns=$1 out=$2
  shift 2
  rm -f "$out.ready"
  tb_bg "$ns" "$out" timeout 60 python3 "$TB_TRAFFIC" "$@" --ready "$out.ready"
  RECV_PID=$TB_LAST_BG
  tb_wait_until 10 0.05 test -e "$out.ready" || {
    fail "receiver started in $ns: $*" "$(cat "$out" 2>/dev/null)"
    return 1
  }
}

# A counted UDP burst with echo: every datagram must arrive once, and its echo come back once.
#   udp_case NAME FROM_NS TO_NS DST_ADDR PORT [SRC_ADDR]
udp_case() {
  local name=$1 from=$2 to=$3 dst=$4 port=$5 src=${6:-}
  local out="$TB_DIR/$name.recv.json" sout="$TB_DIR/$name.send.json"
  local bind=(); [ -z "$src" ] || bind=(--bind "$src")
  start_receiver "$to" "$out" udp-recv --bind "$dst" --port "$port" --count "$UDP_COUNT" --echo || return 0
  tb_ns "$from" timeout 60 python3 "$TB_TRAFFIC" udp-send --to "$dst" --port "$port" --count "$UDP_COUNT" \
    --rate "$UDP_RATE" --echo "${bind[@]}" >"$sout" 2>&1 || true
  wait "$RECV_PID" || true
  local uniq dups eu ed
  uniq=$(jget "$out" unique 2>/dev/null || echo "?") dups=$(jget "$out" duplicates 2>/dev/null || echo "?")
  eu=$(jget "$sout" echo_unique 2>/dev/null || echo "?") ed=$(jget "$sout" echo_duplicates 2>/dev/null || echo "?")
  if [ "$uniq" = "$UDP_COUNT" ] && [ "$dups" = 0 ]; then
    pass "$name: $UDP_COUNT/$UDP_COUNT datagrams arrived exactly once ($from -> $to)"
  else
    fail "$name: receiver got $uniq distinct of $UDP_COUNT, $dups duplicate(s)" "receiver: $(cat "$out")" "sender: $(cat "$sout")"
  fi
  if [ "$eu" = "$UDP_COUNT" ] && [ "$ed" = 0 ]; then
    pass "$name: $UDP_COUNT/$UDP_COUNT echoes came back exactly once ($to -> $from)"
  else
    fail "$name: sender got $eu distinct echoes of $UDP_COUNT, $ed duplicate(s)" "sender: $(cat "$sout")"
  fi
}

# A TCP transfer whose byte count and SHA-256 the receiver confirms on the same connection.
#   tcp_case NAME FROM_NS TO_NS DST_ADDR PORT [SRC_ADDR]
tcp_case() {
  local name=$1 from=$2 to=$3 dst=$4 port=$5 src=${6:-}
  local out="$TB_DIR/$name.recv.json" sout="$TB_DIR/$name.send.json"
  local bind=(); [ -z "$src" ] || bind=(--bind "$src")
  start_receiver "$to" "$out" tcp-recv --bind "$dst" --port "$port" || return 0
  local rc=0
  tb_ns "$from" timeout 60 python3 "$TB_TRAFFIC" tcp-send --to "$dst" --port "$port" --bytes "$TCP_BYTES" \
    "${bind[@]}" >"$sout" 2>&1 || rc=$?
  wait "$RECV_PID" || true
  if [ "$rc" -eq 0 ]; then
    pass "$name: $TCP_BYTES bytes, SHA-256 confirmed by the receiver ($(jget "$sout" mbit_s) Mbit/s)"
  else
    fail "$name: TCP transfer incomplete or corrupted" "sender: $(cat "$sout")" "receiver: $(cat "$out" 2>/dev/null)"
  fi
}

# Ping with a few tries: the first one may wait for ARP/ND on either side.
ping_case() {
  local what=$1 addr=$2 out
  if out=$(tb_ns lan ping -c 3 -i 0.2 -W 2 "$addr" 2>&1); then
    pass "$what: ping $addr ($(grep -o '[0-9]* received' <<<"$out"))"
  else
    fail "$what: ping $addr" "$(tail -n 2 <<<"$out")"
  fi
}

main() {
  tb_init e2e
  echo "e2e forwarding: run $TB_ID, trabouled $BIN"
  tb_topology_up
  # The example policy plus what the inet->lan cases need: the firewall denies connections
  # opened from the internet unless an inbound rule allows them (docs/firewall.md).
  TB_POLICY=$TB_DIR/policy.json
  python3 - "$TB_ROOT/config/examples/edge-lab.policy.json" "$TB_POLICY" <<'PY'
import json, sys
p = json.load(open(sys.argv[1]))
p["firewall"] = {"inbound": [
    {"name": "test-udp-7000", "from": "wan", "proto": "udp", "dst_ports": [7000],
     "dst_prefixes": ["192.168.10.10/32", "fd00:10::10/128"], "action": "allow"},
    {"name": "test-tcp-8080", "from": "wan", "proto": "tcp", "dst_ports": [8080],
     "dst_prefixes": ["192.168.10.10/32", "fd00:10::10/128"], "action": "allow", "log": True}]}
json.dump(p, open(sys.argv[2], "w"), indent=1)
PY
  export TB_POLICY
  tb_write_config "$TB_CONFIG"
  tb_start_trabouled "$BIN"
  if ! tb_wait_ready 30; then
    fail "trabouled ready with both gateways resolved within 30 s"
    exit 1
  fi
  pass "trabouled ready, gateways resolved ($((SECONDS - START)) s after start)"

  ping_case "edge LAN address (IPv4)" "$TB_EDGE_LAN4"
  ping_case "edge LAN address (IPv6)" "$TB_EDGE_LAN6"
  ping_case "inet server through the edge (IPv4)" "$TB_SERVER4"
  ping_case "inet server through the edge (IPv6)" "$TB_SERVER6"

  local n=$UDP_COUNT
  # UDP to 5060 matches the "voice" rule: fiber.
  mark
  udp_case udp4-lan-to-inet lan inet "$TB_SERVER4" 5060
  snap
  expect "udp4 lan->inet port 5060 leaves on fiber" fiber.tx_packets ge "$n"
  expect "udp4 lan->inet echoes return on fiber" fiber.rx_packets ge "$n"
  expect "udp4 lan->inet stays off vdsl" vdsl.tx_packets le "$SLACK"

  # Started from the inet side towards the LAN host: in on fiber (inet's main route), and the
  # LAN host's replies go out by the default rule: fiber.
  mark
  udp_case udp4-inet-to-lan inet lan "$TB_LAN_HOST4" 7000 "$TB_SERVER4"
  snap
  expect "udp4 inet->lan arrives on fiber" fiber.rx_packets ge "$n"
  expect "udp4 inet->lan replies leave on fiber" fiber.tx_packets ge "$n"
  expect "udp4 inet->lan stays off vdsl" vdsl.tx_packets le "$SLACK"

  # Not allowed by any inbound rule: nothing reaches the LAN host, and the firewall counts it.
  local denied0 denied1 out="$TB_DIR/udp-denied.recv.json"
  denied0=$(tb_counters | awk '$1 == "firewall/denied/wan_lan" {print $2}')
  start_receiver lan "$out" udp-recv --bind "$TB_LAN_HOST4" --port 7001 --count 50 --timeout 3 || true
  tb_ns inet timeout 20 python3 "$TB_TRAFFIC" udp-send --to "$TB_LAN_HOST4" --port 7001 --count 50 \
    --rate 100 --bind "$TB_SERVER4" >/dev/null 2>&1 || true
  wait "$RECV_PID" || true
  denied1=$(tb_counters | awk '$1 == "firewall/denied/wan_lan" {print $2}')
  local got
  got=$(jget "$out" unique 2>/dev/null || echo 0)
  if [ "${got:-0}" = 0 ] && [ $((${denied1:-0} - ${denied0:-0})) -ge 50 ]; then
    pass "udp4 inet->lan port 7001 (no inbound rule): 0 arrived, firewall.denied.wan_lan +$((${denied1:-0} - ${denied0:-0}))"
  else
    fail "udp4 inet->lan port 7001 must be denied" "arrived: $got, firewall.denied.wan_lan ${denied0:-?} -> ${denied1:-?}" \
      "$(tb_counters | grep -E '^(firewall|flow)/' | tr '\n' ' ')" "$(cat "$out" 2>/dev/null)"
  fi

  mark
  udp_case udp6-lan-to-inet lan inet "$TB_SERVER6" 5060
  snap
  expect "udp6 lan->inet leaves on fiber" fiber.tx_packets ge "$n"
  expect "udp6 lan->inet echoes return on fiber" fiber.rx_packets ge "$n"

  mark
  udp_case udp6-inet-to-lan inet lan "$TB_LAN_HOST6" 7000 "$TB_SERVER6"
  snap
  expect "udp6 inet->lan arrives on fiber" fiber.rx_packets ge "$n"
  expect "udp6 inet->lan replies leave on fiber" fiber.tx_packets ge "$n"

  # TCP 5201 matches "bulk-to-vdsl"; the inet side routes the replies back on vdsl (connmark).
  mark
  tcp_case tcp4-5201-lan-to-inet lan inet "$TB_SERVER4" 5201
  snap
  expect "tcp4 port 5201 leaves on vdsl" vdsl.tx_bytes ge "$TCP_BYTES"
  expect "tcp4 port 5201 ACKs return on vdsl" vdsl.rx_packets ge 100
  expect "tcp4 port 5201 stays off fiber" fiber.tx_packets le "$SLACK"

  # Any other TCP port takes the default rule: fiber.
  mark
  tcp_case tcp4-8080-lan-to-inet lan inet "$TB_SERVER4" 8080
  snap
  expect "tcp4 port 8080 leaves on fiber" fiber.tx_bytes ge "$TCP_BYTES"
  expect "tcp4 port 8080 ACKs return on fiber" fiber.rx_packets ge 100
  expect "tcp4 port 8080 stays off vdsl" vdsl.tx_packets le "$SLACK"

  mark
  tcp_case tcp4-inet-to-lan inet lan "$TB_LAN_HOST4" 8080 "$TB_SERVER4"
  snap
  expect "tcp4 inet->lan arrives on fiber" fiber.rx_bytes ge "$TCP_BYTES"
  expect "tcp4 inet->lan ACKs leave on fiber" fiber.tx_packets ge 100

  mark
  tcp_case tcp6-lan-to-inet lan inet "$TB_SERVER6" 8080
  snap
  expect "tcp6 lan->inet leaves on fiber" fiber.tx_bytes ge "$TCP_BYTES"

  mark
  tcp_case tcp6-inet-to-lan inet lan "$TB_LAN_HOST6" 8080 "$TB_SERVER6"
  snap
  expect "tcp6 inet->lan arrives on fiber" fiber.rx_bytes ge "$TCP_BYTES"

  # Totals seen by telemetry, to compare with the final summary after SIGTERM.
  snap
  local tel_vdsl_tx=${U[vdsl.tx_bytes]:-0} tel_fiber_tx=${U[fiber.tx_bytes]:-0}

  local rc=0
  tb_stop_trabouled || rc=$?
  if [ "$rc" -eq 0 ] && grep -q '^trabouled: stopped' "$TB_LOG"; then
    pass "trabouled stopped cleanly on SIGTERM"
  else
    fail "trabouled stops cleanly on SIGTERM (exit $rc)"
  fi
  local fline vline ftx vtx
  fline=$(grep -E '^ +uplink fiber ' "$TB_LOG" || true)
  vline=$(grep -E '^ +uplink vdsl ' "$TB_LOG" || true)
  ftx=$(sed -nE 's/.* tx [0-9]+ pkts ([0-9]+) bytes.*/\1/p' <<<"$fline")
  vtx=$(sed -nE 's/.* tx [0-9]+ pkts ([0-9]+) bytes.*/\1/p' <<<"$vline")
  if [ -n "$ftx" ] && [ -n "$vtx" ] && [ "$vtx" -ge "$TCP_BYTES" ] && [ "$ftx" -ge $((2 * TCP_BYTES)) ] &&
    [ "$vtx" -ge "$tel_vdsl_tx" ] && [ "$ftx" -ge "$tel_fiber_tx" ]; then
    pass "final summary: fiber tx $ftx B, vdsl tx $vtx B (consistent with telemetry)"
  else
    fail "final summary per-uplink counters" "fiber: ${fline:-missing}" "vdsl: ${vline:-missing}" \
      "telemetry last saw fiber tx $tel_fiber_tx B, vdsl tx $tel_vdsl_tx B"
  fi

  echo
  echo "--- trabouled final summary"
  sed -n '/^trabouled: final counters/,$p' "$TB_LOG"
  echo
  if [ "${#FAILED[@]}" -ne 0 ]; then
    exit 1
  fi
  echo "e2e forwarding: all $PASSED assertions passed in $((SECONDS - START)) s"
}

main
