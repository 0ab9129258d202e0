#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The route feed from the real FRR (issue 16 item 2): zebra with dplane_fpm_nl and staticd in a
# private network namespace, our FPM server (fpm_dump) in the same namespace. Static routes added
# with vtysh (IPv4, IPv6, two next hops, a blackhole) must reach the RIB (delivery time measured
# from the vtysh call: asserted < 1 s, the distribution printed), a deleted one must go, and
# after zebra is killed and restarted the RIB re-syncs: nothing lost meanwhile (staticd comes
# back within the grace period), and what zebra no longer has (a route removed while it was
# down, a vanished connected prefix) swept after grace.
#   fpm_test.sh FPM_DUMP          needs root (exit 77 otherwise, or without FRR)
set -euo pipefail
dump=${1:?usage: fpm_test.sh FPM_DUMP}
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"
[ -x /usr/lib/frr/zebra ] || { echo "SKIP: FRR missing (tools/setup installs it)"; exit 77; }
e2e_init --no-lab fpm vtysh
ns="tbfpm$$"
chmod 755 "$work" # zebra and staticd run as user frr
frr="$work/frr"
out="$work/out"
e2e_log="$frr/zebra.log"
e2e_log_lines=20
# staticd takes about 9 s to reconnect to a restarted zebra (its zclient retry), zebra about 3 s
# to reconnect to us: a grace shorter than both would sweep static routes that are coming back.
grace_ms=12000
dump_pid=""

fpm_cleanup() {
  local f
  for f in "$frr"/zebra.pid "$frr"/staticd.pid; do
    if [ -s "$f" ]; then kill "$(cat "$f")" 2>/dev/null || true; fi
  done
  if [ -n "$dump_pid" ]; then kill "$dump_pid" 2>/dev/null || true; fi
  sleep 0.2
  ip netns del "$ns" 2>/dev/null || true
}
e2e_cleanups+=(fpm_cleanup)
on_fail() { echo "--- rib.json"; cat "$out/rib.json" 2>/dev/null || true; }
now_ns() { date +%s%N; }
vty() { ip netns exec "$ns" env HOME="$work" vtysh --vty_socket "$frr" "$@" >/dev/null; }
conf() {
  local args=(-c 'configure terminal') c
  for c in "$@"; do args+=(-c "$c"); done
  vty "${args[@]}"
}

mkdir -p "$frr" "$out"
printf 'fpm address 127.0.0.1\nno fpm use-next-hop-groups\n' >"$frr/zebra.conf"
: >"$frr/staticd.conf"
chown -R frr:frr "$frr"

ip netns add "$ns"
ip -n "$ns" link set lo up
# A veth pair (no dummy module in every CI kernel): dum0 carries the connected prefixes.
ip -n "$ns" link add dum0 type veth peer name dum1
ip -n "$ns" link set dum1 up
ip -n "$ns" link set dum0 up
ip -n "$ns" addr add 10.77.0.1/24 dev dum0
ip -n "$ns" addr add 10.78.0.1/24 dev dum0 # removed while zebra is down: must be swept
ip -n "$ns" addr add fd77::1/64 dev dum0 nodad

ip netns exec "$ns" "$dump" "$out" 127.0.0.1 2620 "$grace_ms" 2>"$work/dump.err" &
dump_pid=$!

start_zebra() {
  ip netns exec "$ns" /usr/lib/frr/zebra -d -F traditional -A 127.0.0.1 -M dplane_fpm_nl \
    -f "$frr/zebra.conf" -i "$frr/zebra.pid" -z "$frr/zserv.api" --vty_socket "$frr" \
    --log "file:$frr/zebra.log" -u frr -g frr 2>>"$work/zebra.err" \
    || { cat "$work/zebra.err"; fail "zebra refused to start"; }
}
wait_file() { # FILE: up to 10 s
  local i
  for i in $(seq 200); do [ -e "$1" ] && return 0; sleep 0.05; done
  return 1
}

start_zebra
wait_file "$frr/zebra.vty" || fail "zebra did not start"
ip netns exec "$ns" /usr/lib/frr/staticd -d -F traditional -A 127.0.0.1 -f "$frr/staticd.conf" \
  -i "$frr/staticd.pid" -z "$frr/zserv.api" --vty_socket "$frr" --log "file:$frr/staticd.log" \
  -u frr -g frr
wait_file "$frr/staticd.vty" || fail "staticd did not start"

# q EXPR...: a check on the RIB and the events (tests/e2e/fpm_check.py), exit status = answer.
q() { "$py" "$(dirname "$0")/fpm_check.py" "$out" "$@"; }
wait_q() { # TIMEOUT_S CHECK...
  local limit=$1 i
  shift
  for i in $(seq $((limit * 50))); do q "$@" && return 0; sleep 0.02; done
  return 1
}

wait_q 10 has 10.77.0.0/24 || fail "zebra never connected (connected route 10.77.0.0/24 missing)"
pass "zebra connected to our FPM server; connected routes arrived"

# Each route: added with vtysh, its arrival time from the vtysh call.
lat=()
add_route() { # PREFIX WANT_HOPS WANT_TYPE CONFIG...
  local prefix=$1 hops=$2 type=$3 t0
  shift 3
  t0=$(now_ns)
  conf "$@"
  wait_q 5 route "$prefix" "$hops" "$type" || fail "$prefix did not arrive as $type/$hops"
  lat+=("$(q latency "$prefix" add "$t0")")
  pass "$prefix arrived ($type, $hops next hops) in ${lat[-1]} ms"
}
add_route 172.16.5.0/24 1 unicast 'ip route 172.16.5.0/24 10.77.0.2'
add_route 100.64.0.0/16 2 unicast 'ip route 100.64.0.0/16 10.77.0.2' \
  'ip route 100.64.0.0/16 10.77.0.3'
add_route 192.0.2.128/25 0 blackhole 'ip route 192.0.2.128/25 blackhole'
add_route 2001:db8:5::/48 1 unicast 'ipv6 route 2001:db8:5::/48 fd77::2'
add_route 198.18.0.0/15 1 unicast 'ip route 198.18.0.0/15 10.77.0.9'
q proto 172.16.5.0/24 static || fail "172.16.5.0/24 is not named static"
q proto 10.77.0.0/24 kernel || fail "the connected route is not named kernel"

# A distribution: the same route added and deleted 15 times (and how long vtysh itself takes).
vt=()
for i in $(seq 15); do
  t0=$(now_ns)
  conf 'ip route 203.0.113.0/24 10.77.0.4'
  vt+=("$((($(now_ns) - t0) / 1000000))")
  wait_q 5 route 203.0.113.0/24 1 unicast || fail "203.0.113.0/24 (round $i) did not arrive"
  lat+=("$(q latency 203.0.113.0/24 add "$t0")")
  t0=$(now_ns)
  conf 'no ip route 203.0.113.0/24 10.77.0.4'
  wait_q 5 absent 203.0.113.0/24 || fail "203.0.113.0/24 (round $i) was not deleted"
  lat+=("$(q latency 203.0.113.0/24 del "$t0")")
done

t0=$(now_ns)
conf 'no ip route 172.16.5.0/24 10.77.0.2'
wait_q 5 absent 172.16.5.0/24 || fail "172.16.5.0/24 still there after its deletion"
lat+=("$(q latency 172.16.5.0/24 del "$t0")")
pass "172.16.5.0/24 deleted in ${lat[-1]} ms"
echo "delivery (vtysh call -> RIB), ${#lat[@]} changes: $("$py" -c '
import statistics, sys
v = sorted(float(x) for x in sys.argv[1:])
print("min %.1f median %.1f p90 %.1f max %.1f ms" % (v[0], statistics.median(v),
      v[int(0.9 * (len(v) - 1))], v[-1]))
over = [x for x in v if x >= 1000]
sys.exit(1 if over else 0)' "${lat[@]}")" || fail "a route took 1 s or more"
echo "of which the vtysh call itself (process start to exit): median $(printf '%s\n' "${vt[@]}" |
  sort -n | sed -n 8p) ms"

# zebra killed (a crash): the RIB keeps everything while it is away.
q snapshot "$work/before.json"
kill -9 "$(cat "$frr/zebra.pid")"
sleep 0.3
conf 'no ip route 198.18.0.0/15 10.77.0.9' # staticd still runs: zebra will not replay it
ip -n "$ns" addr del 10.78.0.1/24 dev dum0
sleep 1
q same "$work/before.json" || fail "the RIB changed while zebra was down"
pass "zebra down: the RIB kept its $(q count) routes (no blackhole)"
t_restart=$(now_ns)
rm -f "$frr/zebra.vty"
start_zebra
wait_file "$frr/zebra.vty" || fail "zebra did not restart"
wait_q 10 connections 2 || fail "zebra did not reconnect"
echo "zebra reconnected $(q since "$t_restart" connect) ms after its restart"
wait_q 30 absent 198.18.0.0/15 || fail "198.18.0.0/15 (gone with zebra) was not swept"
wait_q 5 absent 10.78.0.0/24 || fail "10.78.0.0/24 (address removed) was not swept"
echo "stale routes swept $(q since "$t_restart" sweep 198.18.0.0/15) ms after the restart" \
  "(grace ${grace_ms} ms)"
for p in 100.64.0.0/16 192.0.2.128/25 2001:db8:5::/48 10.77.0.0/24; do
  q present "$p" || fail "$p lost in the resync"
  q never_deleted "$p" || fail "$p was deleted during the resync (a blackhole)"
done
q route 100.64.0.0/16 2 unicast || fail "100.64.0.0/16 lost a next hop in the resync"
pass "resync: the routes zebra still has never left; the two it lost were swept"

kill "$dump_pid"
wait "$dump_pid" || true
dump_pid=""
q stats_zero || fail "decoder errors counted (stats.json)"
pass "no decoder error on zebra's stream ($(q stats_summary))"
e2e_summary
