#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# End-to-end test of tools/lab: brings a lab up with the built binaries, checks `status --json`
# (every host and link), forwarding from the LAN to the datacenter and the internet (ping,
# HTTP, HTTPS), `impair` (a cut link carries nothing, restored it carries again; degrading
# words reach wanem), the API through `exec edge traboulectl`, a second lab side by side, and
# that `down` leaves nothing behind, also after the daemons were killed.
#   usage: lab_test.sh BUILD_DIR      (root; CTest passes its build dir)
# Exit 0 = all assertions passed, 1 = a failure (details printed), 77 = skipped (not root).
set -euo pipefail

# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"
# Two labs named after this run, so parallel runs and a developer's own "lab" are untouched:
# e2e_init's (A, brought down at exit) and B.
e2e_init "${1:-}" e2ea
A=$name
B="e2eb$$"

down_b() { "$lab" --name "$B" down >/dev/null 2>&1; }
e2e_cleanups+=(down_b)
# On failure: each lab's status, then its logs (kept outside $work) and their tails.
on_fail() {
  local f log keep
  keep=$(mktemp -d /tmp/lab_test.XXXXXX)
  cp "$work"/up*.txt "$keep/" 2>/dev/null
  for f in "$A" "$B"; do
    [ -d "/run/traboule-lab/$f" ] || continue
    echo "=== tools/lab status --name $f"
    "$lab" --name "$f" status
    "$lab" --name "$f" down --keep-logs "$keep/$f" >/dev/null 2>&1
    for log in "$keep/$f"/edge.log "$keep/$f"/hub.log; do
      [ -f "$log" ] && { echo "=== last 40 lines of $log"; tail -n 40 "$log"; }
    done
  done
  echo "(all logs kept in $keep)"
}

# Kernel TX counter of an interface inside a lab namespace.
tx_packets() { "$lab" --name "$1" exec "$2" cat "/sys/class/net/$3/statistics/tx_packets"; }

# Background pings lan1 -> dc1 for $2 seconds, 10 per second; prints how many replies came back.
ping_for() {
  local out
  out=$("$lab" --name "$1" exec lan1 ping -n -q -i 0.1 -W 1 -w "$2" 10.10.0.10 2>&1 || true)
  sed -n 's/.* \([0-9]\+\) received.*/\1/p' <<<"$out"
}

# Python assertions on the status JSON ($1): prints what is wrong, exits 1 if anything is.
check_status_json() {
  "$py" - "$1" "$2" <<'PY'
import json, sys
doc = json.loads(open(sys.argv[1]).read())
lab = sys.argv[2]
bad = []
want_hosts = ["edge", "hub", "sw", "wanem-fiber", "wanem-vdsl", "wanem-4g", "core", "lan1", "lan2", "dc1", "inet"]
if doc.get("state") != "up":
    bad.append("state is %r, problems %r" % (doc.get("state"), doc.get("problems")))
hosts = doc.get("hosts", {})
for h in want_hosts:
    one = hosts.get(h)
    if not one:
        bad.append("host %s missing" % h)
        continue
    if one.get("namespace") != "tblab-%s-%s" % (lab, h) or not one.get("present"):
        bad.append("host %s: namespace %r present %r" % (h, one.get("namespace"), one.get("present")))
addrs = {
    "lan1": "192.168.10.11/24", "lan2": "192.168.10.12/24", "dc1": "10.10.0.10/24",
    "inet": "198.51.100.10/24",
}
for h, a in addrs.items():
    got = [x for v in hosts.get(h, {}).get("interfaces", {}).values() for x in v]
    if a not in got:
        bad.append("host %s: %s not among %r" % (h, a, got))
for d, lan, wan in (("edge", "192.168.10.1/24", "fiber"), ("hub", "10.10.0.1/24", "wan")):
    one = hosts.get(d, {})
    if not one.get("running") or not isinstance(one.get("pid"), int):
        bad.append("%s: pid %r running %r" % (d, one.get("pid"), one.get("running")))
    if not str(one.get("api", "")).startswith("https://127.0.0.1:"):
        bad.append("%s: api %r" % (d, one.get("api")))
    if lan not in one.get("interfaces", {}).get("lan", {}).get("addresses", []):
        bad.append("%s: lan address %s missing" % (d, lan))
    ups = one.get("uplinks") or {}
    if wan not in ups or ups[wan].get("gateway") != "resolved":
        bad.append("%s: uplink %s not resolved in %r" % (d, wan, ups))
links = doc.get("links", {})
for u in ("fiber", "vdsl", "4g"):
    one = links.get(u)
    if not one:
        bad.append("link %s missing" % u)
        continue
    if one.get("state") != "up" or not one.get("running") or not one.get("upload"):
        bad.append("link %s: state %r running %r upload %r" % (u, one.get("state"), one.get("running"), one.get("upload")))
for b in bad:
    print(b)
sys.exit(1 if bad else 0)
PY
}

# JSON field of the status of lab $1: a Python expression on `d`.
status_field() {
  "$lab" --name "$1" status --json >"$work/st.json" 2>/dev/null || true
  "$py" -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$work/st.json" "$2"
}

# Everything of lab $1 that could be left behind; empty when clean.
leftovers() {
  local name=$1 pids=$2 p
  ip netns list | awk '{print $1}' | grep "^tblab-$name-" || true
  ls -d /var/run/dpdk/tblab-"$name"-* 2>/dev/null || true
  [ ! -e "/run/traboule-lab/$name" ] || echo "/run/traboule-lab/$name"
  # A process that exited may stay a zombie until init reaps it: that holds nothing.
  for p in $pids; do
    [ -d "/proc/$p" ] || continue
    [ "$(awk '{print $3}' "/proc/$p/stat" 2>/dev/null)" = Z ] && continue
    echo "pid $p ($(cat "/proc/$p/comm" 2>/dev/null)) still runs"
  done
}

echo "=== tools/lab end-to-end (labs $A and $B, build $build)"

# --- up -------------------------------------------------------------------------------------
t0=$(date +%s.%N)
if "$lab" --name "$A" up >"$work/upA.txt" 2>&1; then
  pass "up $A ($(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s)"
else
  fail "up $A" "$(tail -n 40 "$work/upA.txt")"
fi

out=$("$lab" --name "$A" up 2>&1) && rc=0 || rc=$?
if [ "$rc" -ne 0 ] && grep -q "already up" <<<"$out"; then
  pass "a second up is refused with a message"
else
  soft_fail "a second up is refused with a message" "rc=$rc" "$out"
fi

# --- status ---------------------------------------------------------------------------------
if "$lab" --name "$A" status --json >"$work/statusA.json" 2>"$work/statusA.err"; then
  check "status --json lists every host and link, addresses, daemons, impairment" \
    check_status_json "$work/statusA.json" "$A"
else
  soft_fail "status --json exits 0 on a healthy lab" "$(cat "$work/statusA.json" "$work/statusA.err")"
fi
check "status (text) names the lab as up" bash -c "'$lab' --name '$A' status | head -1 | grep -q ': up'"
PIDS_A=$("$py" -c '
import json, sys
d = json.load(open(sys.argv[1]))
p = [d["hosts"][h]["pid"] for h in ("edge", "hub")] + [l["wanem_pid"] for l in d["links"].values()]
p += [d["hosts"][h]["web"]["pid"] for h in ("inet", "dc1")]
print(" ".join(str(x) for x in p if x))' "$work/statusA.json")

# --- forwarding -----------------------------------------------------------------------------
check "lan1 pings dc1 (10.10.0.10) through edge, core and hub" "$lab" --name "$A" exec lan1 ping -c 3 -i 0.2 -W 2 10.10.0.10
check "lan1 pings inet (198.51.100.10)" "$lab" --name "$A" exec lan1 ping -c 3 -i 0.2 -W 2 198.51.100.10
check "lan2 pings inet" "$lab" --name "$A" exec lan2 ping -c 3 -i 0.2 -W 2 198.51.100.10
check "lan1 pings dc1 over IPv6 (fd00:1010::10)" "$lab" --name "$A" exec lan1 ping -c 3 -i 0.2 -W 2 fd00:1010::10
check "lan1 pings inet over IPv6 (2001:db8:100::10)" "$lab" --name "$A" exec lan1 ping -c 3 -i 0.2 -W 2 2001:db8:100::10
check "lan1 fetches http://198.51.100.10/" \
  bash -c "'$lab' --name '$A' exec lan1 curl -sS -m 10 http://198.51.100.10/ | grep -q 'traboule lab inet'"
check "lan1 fetches https://198.51.100.10/ (lab certificate)" \
  bash -c "'$lab' --name '$A' exec lan1 curl -sS -m 10 --cacert /run/traboule-lab/$A/inet/https.crt https://198.51.100.10/ | grep -q 'traboule lab inet'"
check "lan1 fetches 1 MB from dc1 (http://10.10.0.10/bytes/1000000)" \
  bash -c "[ \"\$('$lab' --name '$A' exec lan1 curl -sS -m 20 -o /dev/null -w '%{size_download}' http://10.10.0.10/bytes/1000000)\" = 1000000 ]"

# --- the API through exec -------------------------------------------------------------------
check "exec edge traboulectl status (API with the lab's token and CA)" "$lab" --name "$A" exec edge traboulectl status
check "exec hub traboulectl status" "$lab" --name "$A" exec hub traboulectl status
check "exec edge traboulectl links --json" "$lab" --name "$A" exec edge traboulectl links --json
# show runtime on the running edge: after the 1 MB download, parse and tx have counted calls
# and packets and a timed cycles-per-packet figure.
check "exec edge traboulectl runtime: parse and tx with packets and cycles per packet" \
  bash -c "'$lab' --name '$A' exec edge traboulectl --json runtime | $py -c '
import json, sys
st = {s[\"name\"]: s for s in json.load(sys.stdin)[\"stages\"]}
for n in (\"parse\", \"tx\"):
    assert st[n][\"packets\"] > 100 and st[n][\"calls\"] > 0, st[n]
    assert st[n][\"cycles_per_packet\"] and st[n][\"cycles_per_packet\"] > 0, st[n]
'"
check "exec edge traboulectl runtime --interval 1 (the last second, packets per second)" \
  bash -c "'$lab' --name '$A' exec edge traboulectl runtime --interval 1 | grep -q RATE"

# --- impair: cut and restore fiber ----------------------------------------------------------
# lan1 -> dc1 leaves by fiber (the edge policy's first choice). While it is cut, wanem-fiber
# forwards nothing either way: the TX counters of both its veths stay still.
got=$(ping_for "$A" 2)
n0=$(tx_packets "$A" wanem-fiber net)
s0=$(tx_packets "$A" wanem-fiber site)
got=$(ping_for "$A" 2)
n1=$(tx_packets "$A" wanem-fiber net)
s1=$(tx_packets "$A" wanem-fiber site)
if [ "${got:-0}" -ge 15 ] && [ $((n1 - n0)) -ge 15 ] && [ $((s1 - s0)) -ge 15 ]; then
  pass "fiber carries the pings before the cut ($got replies; wanem tx net +$((n1 - n0)) site +$((s1 - s0)))"
else
  soft_fail "fiber carries the pings before the cut" "replies $got, wanem tx net +$((n1 - n0)) site +$((s1 - s0))"
fi
check "impair fiber down" "$lab" --name "$A" impair fiber down
check "status shows fiber down" bash -c "[ \"\$('$lab' --name '$A' status --json | '$py' -c 'import json,sys; print(json.load(sys.stdin)[\"links\"][\"fiber\"][\"state\"])')\" = down ]"
n0=$(tx_packets "$A" wanem-fiber net)
s0=$(tx_packets "$A" wanem-fiber site)
got=$(ping_for "$A" 2)
n1=$(tx_packets "$A" wanem-fiber net)
s1=$(tx_packets "$A" wanem-fiber site)
# The edge's probes mark fiber down within ~0.3 s and new flows take vdsl: the pings are
# answered (a new ping is a new flow, and core returns it the way it came), and wanem-fiber's
# veths carry nothing.
if [ "${got:-0}" -ge 10 ] && [ "$n1" -eq "$n0" ] && [ "$s1" -eq "$s0" ]; then
  pass "fiber down: wanem-fiber's veths send nothing, the edge fails over ($got replies via another uplink)"
else
  soft_fail "fiber down: wanem-fiber's veths send nothing, the edge fails over" "replies $got, tx net $n0 -> $n1, site $s0 -> $s1"
fi
check "impair fiber up" "$lab" --name "$A" impair fiber up
got=$(ping_for "$A" 2)
n0=$(tx_packets "$A" wanem-fiber net)
got=$(ping_for "$A" 2)
n1=$(tx_packets "$A" wanem-fiber net)
if [ "${got:-0}" -ge 15 ] && [ $((n1 - n0)) -ge 15 ]; then
  pass "fiber up again: pings answered ($got), wanem forwards (tx net +$((n1 - n0)))"
else
  soft_fail "fiber up again: pings answered, wanem forwards" "replies $got, tx net +$((n1 - n0))"
fi

# --- impair: degrading words reach wanem, per direction -------------------------------------
check "impair vdsl delay=20ms jitter=3ms loss=2%" "$lab" --name "$A" impair vdsl delay=20ms jitter=3ms loss=2%
v=$(status_field "$A" '(d["links"]["vdsl"]["wanem"]["a2b"]["params"]["delay_us"], d["links"]["vdsl"]["wanem"]["b2a"]["params"]["loss_pct"])')
if [ "$v" = "(20000.0, 2.0)" ]; then pass "vdsl now delay 20 ms up, 2 % loss down"; else soft_fail "vdsl now delay 20 ms up, 2 % loss down" "got $v"; fi
check "impair vdsl dir=up delay=50ms" "$lab" --name "$A" impair vdsl dir=up delay=50ms
v=$(status_field "$A" '(d["links"]["vdsl"]["wanem"]["a2b"]["params"]["delay_us"], d["links"]["vdsl"]["wanem"]["b2a"]["params"]["delay_us"])')
if [ "$v" = "(50000.0, 20000.0)" ]; then pass "dir=up changed only the upload (50 ms up, 20 ms down)"; else soft_fail "dir=up changed only the upload" "got $v"; fi
check "impair vdsl profile=4g" "$lab" --name "$A" impair vdsl profile=4g
# The 4g link started with profile 4g: vdsl must now read the same, both ways.
v=$(status_field "$A" '(d["links"]["vdsl"]["upload"], d["links"]["vdsl"]["download"]) == (d["links"]["4g"]["upload"], d["links"]["4g"]["download"]) != ("", "")')
if [ "$v" = True ]; then pass "profile=4g applied to vdsl (same as the 4g link's)"; else soft_fail "profile=4g applied to vdsl" "$(status_field "$A" 'd["links"]')"; fi
check "impair vdsl clear" "$lab" --name "$A" impair vdsl clear
v=$(status_field "$A" 'd["links"]["vdsl"]["wanem"]["a2b"]["params"]["delay_us"]')
if [ "$v" = "0.0" ]; then pass "clear removed the impairment"; else soft_fail "clear removed the impairment" "delay_us $v"; fi
for bad in "vdsl loss=200%" "vdsl bogus" "dsl down" "vdsl"; do
  # shellcheck disable=SC2086 # word splitting intended
  out=$("$lab" --name "$A" impair $bad 2>&1) && rc=0 || rc=$?
  if [ "$rc" -ne 0 ] && [ -n "$out" ]; then
    pass "impair $bad is refused: ${out%%$'\n'*}"
  else
    soft_fail "impair $bad is refused with a message" "rc=$rc" "$out"
  fi
done
out=$("$lab" --name "$A" exec nohost true 2>&1) && rc=0 || rc=$?
if [ "$rc" -ne 0 ] && grep -q "unknown host" <<<"$out"; then pass "exec on an unknown host is refused"; else soft_fail "exec on an unknown host is refused" "$out"; fi

# --- a second lab side by side ---------------------------------------------------------------
t0=$(date +%s.%N)
if "$lab" --name "$B" up --clean >"$work/upB.txt" 2>&1; then
  pass "up $B --clean next to $A ($(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s)"
else
  soft_fail "up $B --clean next to $A" "$(tail -n 40 "$work/upB.txt")"
fi
check "$B: lan1 pings dc1 and inet" bash -c "'$lab' --name '$B' exec lan1 ping -c 2 -W 2 10.10.0.10 && '$lab' --name '$B' exec lan1 ping -c 2 -W 2 198.51.100.10"
check "$A: lan1 still pings dc1" "$lab" --name "$A" exec lan1 ping -c 2 -W 2 10.10.0.10
v=$(status_field "$B" 'd["links"]["fiber"]["upload"]')
if grep -q "delay=0ms" <<<"$v"; then pass "$B's links start clean"; else soft_fail "$B's links start clean" "fiber upload: $v"; fi
check "$B: exec edge traboulectl status talks to $B's edge" "$lab" --name "$B" exec edge traboulectl status
# Each lab has its own tokens: A's operator token is refused by B's edge (exit 3: auth).
out=$("$lab" --name "$B" exec edge traboulectl --token "$(cat "/run/traboule-lab/$A/tokens/operator")" status 2>&1) && rc=0 || rc=$?
if [ "$rc" -eq 3 ]; then pass "$B's edge refuses $A's token"; else soft_fail "$B's edge refuses $A's token" "rc=$rc" "$out"; fi
PIDS_B=$(status_field "$B" '" ".join(str(d["hosts"][h]["pid"]) for h in ("edge", "hub"))')

# --- down -----------------------------------------------------------------------------------
t0=$SECONDS
check "down $A" "$lab" --name "$A" down
left=$(leftovers "$A" "$PIDS_A")
if [ -z "$left" ]; then
  pass "down $A left nothing (namespaces, processes, /var/run/dpdk, /run state) in $((SECONDS - t0)) s"
else
  soft_fail "down $A left nothing" "$left"
fi
check "$B unaffected by $A's down" "$lab" --name "$B" exec lan1 ping -c 2 -W 2 198.51.100.10
out=$("$lab" --name "$A" down 2>&1) && rc=0 || rc=$?
if [ "$rc" -eq 0 ] && grep -q "not up" <<<"$out"; then pass "a second down is harmless"; else soft_fail "a second down is harmless" "rc=$rc $out"; fi
out=$("$lab" --name "$A" status 2>&1) && rc=0 || rc=$?
if [ "$rc" -eq 3 ]; then pass "status of a removed lab exits 3 ($out)"; else soft_fail "status of a removed lab exits 3" "rc=$rc $out"; fi

# A crash: SIGKILL both daemons (DPDK runtime dirs stay behind) and a wanem, then down.
for p in $PIDS_B; do kill -KILL "$p" 2>/dev/null || true; done
kill -KILL "$(status_field "$B" 'd["links"]["4g"]["wanem_pid"]')" 2>/dev/null || true
sleep 0.5
out=$("$lab" --name "$B" status 2>&1) && rc=0 || rc=$?
if [ "$rc" -eq 1 ] && grep -q "PROBLEM" <<<"$out"; then pass "status reports the killed daemons (exit 1)"; else soft_fail "status reports the killed daemons" "rc=$rc" "$out"; fi
check "down $B after its daemons were killed" "$lab" --name "$B" down
# A SIGKILLed daemon is torn down by the kernel (its memory unmapped) for a moment after it left
# its namespace: only one still there after 5 s is left behind.
for _ in $(seq 1 50); do
  left=$(leftovers "$B" "$PIDS_B")
  [ -n "$left" ] || break
  sleep 0.1
done
if [ -z "$left" ]; then pass "down $B left nothing after the crash"; else soft_fail "down $B left nothing after the crash" "$left"; fi

echo
e2e_summary
