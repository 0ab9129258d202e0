#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Accuracy of traboule-wanem measured through real interfaces: h1 --veth-- [wanem in its own
# namespace, bridging wa and wb] --veth-- h2, namespaces named per run and removed on exit.
# UDP probes (tools/wanem/wanem_probe.py) carry the sender's clock; the receiver's kernel
# timestamps give one-way delays on the same host clock. Checks: delay within 0.5 ms, loss and
# Gilbert-Elliott loss within 4-sigma bounds, rate within 2 %, jitter, order, duplication,
# outage, TCP through the rate limit, and wanem's CPU use idle and at 1000 pps.
#   usage: wanem_accuracy_test.sh /path/to/traboule-wanem    (root; CTest passes the binary)
# Exit 0 = all checks passed, 1 = a failure, 77 = skipped (not root).
set -euo pipefail

# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"
e2e_usage_if_no_arg "${1:-}"
BIN=$(realpath "$1")
e2e_init --no-lab wn
PROBE="$here/../../tools/wanem/wanem_probe.py"
for tool in ip chrt iperf3 "$py"; do
  command -v "$tool" >/dev/null || fail "'$tool' is missing: run tools/setup"
done

NS_H1="$name-h1" NS_W="$name-w" NS_H2="$name-h2"
H1=198.18.0.1 H2=198.18.0.2
TMP=$work
SOCK="$TMP/wanem.sock"
WANEM_PID=""
REPORT=()
e2e_log="$TMP/wanem.log"
e2e_log_lines=40

stop_wanem() {
  if [ -n "$WANEM_PID" ] && kill -0 "$WANEM_PID" 2>/dev/null; then
    kill "$WANEM_PID" 2>/dev/null || true
    wait "$WANEM_PID" 2>/dev/null || true
  fi
  for ns in "$NS_H1" "$NS_W" "$NS_H2"; do ip netns del "$ns" 2>/dev/null || true; done
}
e2e_cleanups+=(stop_wanem)

report() {
  REPORT+=("$1")
  printf '      %s\n' "$1"
}

# jval FILE EXPR: evaluates a Python expression over the JSON document d.
jval() { "$py" -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"; }
# holds "name" PYTHON_CONDITION "details": pass or fail on a condition over numbers.
holds() {
  if "$py" -c "import sys; sys.exit(0 if ($2) else 1)"; then pass "$1"; else soft_fail "$1" "$3"; fi
}

ctl() { "$BIN" ctl --ctl "$SOCK" "$@" >/dev/null; }
show() { "$BIN" ctl --ctl "$SOCK" show --json >"$TMP/show.json"; }

# --- topology -------------------------------------------------------------------------------
ip netns add "$NS_H1"
ip netns add "$NS_W"
ip netns add "$NS_H2"
ip link add h1 netns "$NS_H1" type veth peer name wa netns "$NS_W"
ip link add h2 netns "$NS_H2" type veth peer name wb netns "$NS_W"
for ns in "$NS_H1" "$NS_W" "$NS_H2"; do
  ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  ip -n "$ns" link set lo up
done
ip -n "$NS_H1" addr add "$H1/24" dev h1
ip -n "$NS_H2" addr add "$H2/24" dev h2
# No GSO super-frames from the hosts: wanem sees (and drops) what the wire would not carry.
ip -n "$NS_H1" link set h1 gso_max_segs 1 up
ip -n "$NS_H2" link set h2 gso_max_segs 1 up
ip -n "$NS_W" link set wa up
ip -n "$NS_W" link set wb up
# Static neighbours: no ARP crosses the link, so wanem's counters are exactly the probes.
MAC1=$(ip -n "$NS_H1" -br link show h1 | awk '{print $3}')
MAC2=$(ip -n "$NS_H2" -br link show h2 | awk '{print $3}')
ip -n "$NS_H1" neigh replace "$H2" lladdr "$MAC2" dev h1 nud permanent
ip -n "$NS_H2" neigh replace "$H1" lladdr "$MAC1" dev h2 nud permanent

ip netns exec "$NS_W" "$BIN" run --name acc --a wa --b wb --ctl "$SOCK" --seed 7 \
  >"$TMP/wanem.log" 2>&1 &
WANEM_PID=$!
for _ in $(seq 50); do
  "$BIN" ctl --ctl "$SOCK" show >/dev/null 2>&1 && break
  kill -0 "$WANEM_PID" 2>/dev/null || fail "wanem exited at start"
  sleep 0.1
done
"$BIN" ctl --ctl "$SOCK" show >/dev/null || fail "wanem's control socket never answered"
echo "wanem running (pid $WANEM_PID) between $NS_H1 and $NS_H2; tmp $TMP"

# probe FROM_NS TO_ADDR TO_NS OUT COUNT PPS SIZE [recv options...]: one UDP run, JSON in OUT.
PORT=9000
probe() {
  local from=$1 to=$2 to_ns=$3 out=$4 count=$5 pps=$6 size=$7
  shift 7
  PORT=$((PORT + 1))
  rm -f "$TMP/ready"
  ip netns exec "$to_ns" chrt -f 5 "$py" "$PROBE" recv --port "$PORT" --expect "$count" \
    --ready-file "$TMP/ready" "$@" >"$out" &
  local rpid=$!
  for _ in $(seq 50); do [ -f "$TMP/ready" ] && break; sleep 0.05; done
  ip netns exec "$from" chrt -f 5 "$py" "$PROBE" send --dst "$to" --port "$PORT" \
    --count "$count" --pps "$pps" --size "$size" >"$out.send"
  wait "$rpid"
}

# cpu_pct SECONDS: wanem's CPU use (user + system, % of one core) over that many seconds.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$WANEM_PID/stat"; }
CLK_TCK=$(getconf CLK_TCK)

# --- 1. path overhead without impairment -----------------------------------------------------
ctl clear
probe "$NS_H1" "$H2" "$NS_H2" "$TMP/base.json" 2000 500 200 --target-ms 0
BASE_P50=$(jval "$TMP/base.json" 'd["owd_ms"]["p50"]')
report "baseline one-way (no impairment): p50 $(printf %.3f "$BASE_P50") ms, p99 $(jval "$TMP/base.json" 'round(d["owd_ms"]["p99"],3)') ms (probe + veths + wanem forwarding)"

# --- 2. fixed delay, per direction ------------------------------------------------------------
delay_check() {
  local name=$1 file=$2 target=$3
  local p50 p99 within maxerr
  p50=$(jval "$file" 'd["owd_ms"]["p50"]')
  p99=$(jval "$file" 'd["owd_ms"]["p99"]')
  within=$(jval "$file" 'd["within_tol"]')
  maxerr=$(jval "$file" 'd["max_abs_error_ms"]')
  report "$name: target $target ms: p50 $(printf %.3f "$p50") p99 $(printf %.3f "$p99") max error $(printf %.3f "$maxerr") ms; $(printf %.2f "$("$py" -c "print($within*100)")") % within 0.5 ms"
  holds "$name: median one-way delay within 0.5 ms of $target ms" "abs($p50 - $target) <= 0.5" "p50 $p50 ms"
  # The issue's bound is the delay applied (the median above). The tail beyond 0.5 ms comes
  # from whole-machine stalls that the Python sender and receiver see too: measured 97-100 %
  # within 0.5 ms on a quiet machine, 89.7 % with a compile running alongside (docs/wanem.md).
  # So the tail is reported on every run and only checked against a floor that catches a
  # broken timer, not a busy machine.
  holds "$name: 80 % of frames within 0.5 ms of $target ms" "$within >= 0.80" "within $within, p99 $p99 ms"
}
ctl dir=a2b delay=30ms dir=b2a delay=50ms
probe "$NS_H1" "$H2" "$NS_H2" "$TMP/d_a2b.json" 2000 500 200 --target-ms 30
delay_check "delay a2b 30ms" "$TMP/d_a2b.json" 30
probe "$NS_H2" "$H1" "$NS_H1" "$TMP/d_b2a.json" 2000 500 200 --target-ms 50
delay_check "delay b2a 50ms" "$TMP/d_b2a.json" 50
ctl delay=270ms
probe "$NS_H1" "$H2" "$NS_H2" "$TMP/d_sat.json" 1000 250 200 --target-ms 270
delay_check "delay a2b 270ms (GEO)" "$TMP/d_sat.json" 270

# --- 3. jitter: ordering without reorder, spread with reorder -----------------------------------
ctl clear delay=40ms jitter=5ms jitter_dist=normal reorder=off
probe "$NS_H1" "$H2" "$NS_H2" "$TMP/j_off.json" 2000 1000 200
R=$(jval "$TMP/j_off.json" 'd["reordered"]')
report "jitter 5ms normal reorder=off: reordered $R of $(jval "$TMP/j_off.json" 'd["received"]'), sd $(jval "$TMP/j_off.json" 'round(d["owd_ms"]["sd"],3)') ms"
holds "jitter reorder=off: no frame overtakes another" "$R == 0" "reordered $R"
ctl reorder=on
probe "$NS_H1" "$H2" "$NS_H2" "$TMP/j_on.json" 2000 1000 200
R=$(jval "$TMP/j_on.json" 'd["reordered"]')
SD=$(jval "$TMP/j_on.json" 'd["owd_ms"]["sd"]')
MEAN=$(jval "$TMP/j_on.json" 'd["owd_ms"]["mean"]')
report "jitter 5ms normal reorder=on: mean $(printf %.3f "$MEAN") ms sd $(printf %.3f "$SD") ms, reordered $R"
# sd of n normal samples: standard error sd/sqrt(2n) = 0.079 ms; 4 sigma plus 0.1 ms of timing noise.
holds "jitter reorder=on: standard deviation 5 ms within 4 sigma" "abs($SD - 5) <= 4 * 5 / (2 * 2000) ** 0.5 + 0.1" "sd $SD ms"
holds "jitter reorder=on: mean 40 ms within 4 sigma" "abs($MEAN - 40) <= 4 * 5 / 2000 ** 0.5 + 0.1" "mean $MEAN ms"
holds "jitter reorder=on: frames are reordered" "$R > 0" "reordered $R"

# --- 4. random loss and Gilbert-Elliott loss --------------------------------------------------
loss_check() {
  local name=$1 file=$2 expected=$3 sigma=$4 counter=$5
  local lost n wanem
  lost=$(jval "$file" 'd["lost"]')
  n=$(jval "$file" 'd["expected"]')
  show
  wanem=$(jval "$TMP/show.json" "d['a2b']['counters']['dropped']['$counter']")
  report "$name: lost $lost of $n ($(printf %.3f "$("$py" -c "print(100*$lost/$n)")") %), expected $(printf %.1f "$expected") +- $(printf %.1f "$("$py" -c "print(4*$sigma)")") (4 sigma); wanem counted $counter=$wanem"
  holds "$name: loss within 4 sigma" "abs($lost - $expected) <= 4 * $sigma" "lost $lost, expected $expected, sigma $sigma"
  holds "$name: wanem's $counter counter equals the frames lost" "$wanem == $lost" "counter $wanem, lost $lost"
}
N=20000
ctl clear loss=5%
ctl zero
probe "$NS_H1" "$H2" "$NS_H2" "$TMP/loss.json" $N 4000 64
loss_check "loss 5%" "$TMP/loss.json" "$("$py" -c "print($N*0.05)")" "$("$py" -c "print(($N*0.05*0.95)**0.5)")" loss
# ge=1%,30%: stationary loss p/(p+r); the count's variance is that of the two-state chain,
# n pi_b pi_g (1+l)/(1-l) with l = 1-p-r (losses are correlated: wider than binomial).
ctl clear ge=1%,30%
ctl zero
probe "$NS_H1" "$H2" "$NS_H2" "$TMP/ge.json" $N 4000 64
GE_EXP=$("$py" -c "p,r=0.01,0.30; print($N*p/(p+r))")
GE_SD=$("$py" -c "p,r=0.01,0.30; b=p/(p+r); l=1-p-r; print(($N*b*(1-b)*(1+l)/(1-l))**0.5)")
loss_check "Gilbert-Elliott ge=1%,30%" "$TMP/ge.json" "$GE_EXP" "$GE_SD" ge_loss

# --- 5. rate limit and queue ------------------------------------------------------------------
# The queue holds 400 ms (20mbit) or 170 ms (100mbit): a busy machine stops the Python sender
# for up to ~50 ms at times, and a queue that drained during such a stall would leave the link
# idle and make the rate look low for a reason that is not wanem's.
rate_check() {
  local rate_mbit=$1 queue=$2 count=$3 pps=$4
  ctl clear "rate=${rate_mbit}mbit" "queue=$queue"
  ctl zero
  probe "$NS_H1" "$H2" "$NS_H2" "$TMP/rate$rate_mbit.json" "$count" "$pps" 1200 --idle 1.5
  local measured qfull ring sent_pps got sock tx stall
  measured=$(jval "$TMP/rate$rate_mbit.json" 'd["rate_bps"]')
  stall=$(jval "$TMP/rate$rate_mbit.json.send" 'round(d["max_gap_ms"], 1)')
  got=$(jval "$TMP/rate$rate_mbit.json" 'd["received"]')
  sock=$(jval "$TMP/rate$rate_mbit.json" 'd["socket_drops"]')
  sent_pps=$(jval "$TMP/rate$rate_mbit.json.send" 'round(d["pps"])')
  show
  qfull=$(jval "$TMP/show.json" "d['a2b']['counters']['dropped']['queue_full']")
  ring=$(jval "$TMP/show.json" "d['a2b']['counters']['dropped']['ring_full']")
  tx=$(jval "$TMP/show.json" "d['a2b']['counters']['tx_frames']")
  report "rate ${rate_mbit}mbit (UDP flood of 1242-byte frames at $sent_pps pps): measured $(printf %.4f "$("$py" -c "print($measured/1e6)")") Mbit/s of Ethernet frames ($(printf %+.3f "$("$py" -c "print(100*($measured/($rate_mbit*1e6)-1))")") %), queue $queue; longest sender stall $stall ms; wanem sent $tx, probe got $got (socket drops $sock); queue_full drops $qfull, ring_full $ring"
  holds "rate ${rate_mbit}mbit: the probe saw every frame wanem sent" "$got == $tx" "wanem tx $tx, received $got, socket drops $sock"
  holds "rate ${rate_mbit}mbit: measured within 2 %" "abs($measured / ($rate_mbit * 1e6) - 1) <= 0.02" "measured $measured bit/s"
  holds "rate ${rate_mbit}mbit: the full queue tail-drops" "$qfull > 0" "queue_full $qfull"
}
rate_check 20 1mb 40000 4000
rate_check 100 2mb 60000 15000

# TCP through the limit: goodput stays under the rate (payload 1448 of each 1514-byte frame).
ctl clear rate=20mbit queue=64kb delay=10ms
ip netns exec "$NS_H2" iperf3 -s -1 -p 5299 >/dev/null 2>&1 &
IPERF_PID=$!
sleep 0.5
if ip netns exec "$NS_H1" timeout 30 iperf3 -c "$H2" -p 5299 -t 5 -J >"$TMP/iperf.json"; then
  GOODPUT=$(jval "$TMP/iperf.json" 'd["end"]["sum_received"]["bits_per_second"]')
  CEIL=$("$py" -c "print(20e6 * 1448 / 1514)")
  report "TCP (iperf3, 5 s) through rate=20mbit delay=10ms: goodput $(printf %.3f "$("$py" -c "print($GOODPUT/1e6)")") Mbit/s, ceiling $(printf %.3f "$("$py" -c "print($CEIL/1e6)")") Mbit/s"
  holds "TCP goodput does not exceed the rate (2 % margin)" "$GOODPUT <= $CEIL * 1.02" "goodput $GOODPUT"
  holds "TCP goodput reaches at least 70 % of the rate" "$GOODPUT >= $CEIL * 0.7" "goodput $GOODPUT"
else
  soft_fail "iperf3 TCP run through wanem" "$(tail -n 5 "$TMP/iperf.json")"
fi
wait "$IPERF_PID" 2>/dev/null || true

# --- 6. duplication and outage ------------------------------------------------------------------
ctl clear dup=10%
ctl zero
probe "$NS_H1" "$H2" "$NS_H2" "$TMP/dup.json" 5000 2000 64 --wait-idle --idle 1
DUPS=$(jval "$TMP/dup.json" 'd["duplicates"]')
show
WDUP=$(jval "$TMP/show.json" "d['a2b']['counters']['duplicated']")
report "dup 10%: $DUPS duplicates received of 5000, wanem counted $WDUP"
holds "dup 10%: duplicates within 4 sigma" "abs($DUPS - 500) <= 4 * (5000 * 0.1 * 0.9) ** 0.5" "duplicates $DUPS"
holds "dup 10%: wanem's duplicated counter equals the duplicates received" "$DUPS == $WDUP" "counter $WDUP"

ctl clear down
ctl zero
probe "$NS_H1" "$H2" "$NS_H2" "$TMP/down.json" 500 1000 64 --first-timeout 2
show
GOT=$(jval "$TMP/down.json" 'd["received"]')
OUT=$(jval "$TMP/show.json" "d['a2b']['counters']['dropped']['outage']")
holds "down: nothing crosses the link" "$GOT == 0" "received $GOT"
holds "down: every frame is counted as outage" "$OUT == 500" "outage $OUT"
ctl up
probe "$NS_H1" "$H2" "$NS_H2" "$TMP/up.json" 500 1000 64
holds "up: traffic flows again" "$(jval "$TMP/up.json" 'd["received"]') == 500" "$(cat "$TMP/up.json")"

# --- 7. CPU use ---------------------------------------------------------------------------------
ctl clear delay=20ms
sleep 1
T0=$(cpu_ticks)
sleep 10
IDLE=$("$py" -c "print(100 * ($(cpu_ticks) - $T0) / $CLK_TCK / 10)")
T0=$(cpu_ticks)
probe "$NS_H1" "$H2" "$NS_H2" "$TMP/cpu.json" 10000 1000 200 --target-ms 20
BUSY=$("$py" -c "print(100 * ($(cpu_ticks) - $T0) / $CLK_TCK / 10)")
report "CPU of wanem (all threads, % of one core): idle $(printf %.2f "$IDLE") %, 1000 pps a2b through delay=20ms $(printf %.2f "$BUSY") %"
holds "idle wanem uses under 1 % of a core (no busy loop)" "$IDLE < 1" "idle $IDLE %"
delay_check "delay 20ms at 1000 pps" "$TMP/cpu.json" 20

echo
echo "=== wanem accuracy report"
for line in "${REPORT[@]}"; do echo "  $line"; done
echo
e2e_summary
