#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# SNMP in the lab (docs/snmp.md): real snmpd (AgentX master, SNMPv3 authPriv, traps v2c and v3),
# real snmptrapd, and traboule-snmp as subagent, all in the edge's namespace:
#   1. snmpwalk v3 authPriv lists the data-plane ports in IF-MIB (ifName, ifHCIn/OutOctets) and
#      each port's octets and packets (the driver's, LAN included) sit between two readings of
#      `traboulectl counters` (port.<name>.*) taken around it;
#   2. TRABOULE-MIB path RTTs match `traboulectl --json links`; snmpd's HOST-RESOURCES answers;
#   3. a 10 s fiber cut brings trbPathDown and a P1 trbIncident to snmptrapd in v2c and in v3,
#      then trbPathUp;
#   4. the daemon restarted: the subagent survives and serves again; snmpd restarted: the
#      subagent registers again within 20 s.
# Usage: snmp_test.sh BUILD_DIR   (TB_SNMP_BIN overrides BUILD_DIR/controlplane/snmp/traboule-snmp)
set -euo pipefail

# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_init "$1" sn snmpd snmptrapd snmpwalk snmpget
# shellcheck source=tools/lib/site_config.sh
source "$here/../../tools/lib/site_config.sh"
sub_bin=${TB_SNMP_BIN:-$build/controlplane/snmp/traboule-snmp}
[ -x "$sub_bin" ] || { echo "FAIL: no $sub_bin (build the traboule-snmp target)"; exit 1; }
ns="tblab-$name-edge"
chmod 700 "$work"
pids=()
test_cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
}
e2e_cleanups+=(test_cleanup)
on_fail() {
  echo "--- traboule-snmp"; tail -n 20 "$work/sub.log" 2>/dev/null || true
  echo "--- snmpd"; tail -n 10 "$work/snmpd.log" 2>/dev/null || true
  echo "--- snmptrapd"; tail -n 20 "$work/traps.log" 2>/dev/null || true
}
t_start=$(date +%s)

# The v3 users' passphrases: fresh for each run, only in the 0600 config files, never printed.
auth=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
priv=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
engine=0x80001f88807472626f756c65$(printf %04x $(($$ % 65536)))  # snmpd's engine ID (traps)
agent=udp:127.0.0.1:11161
umask 077
mkdir -p "$work/snmpd" "$work/trapd" "$work/cli"
cat >"$work/snmpd.conf" <<EOF
agentAddress $agent
exactEngineID $engine
createUser tbadmin SHA "$auth" AES "$priv"
rouser tbadmin priv
master agentx
agentXSocket unix:$work/agentx.sock
agentXPerms 0660 0770
# The same notifications to one receiver twice: as v2c, and as v3 authPriv (user tbtrap).
trap2sink udp:127.0.0.1:11162 public
trapsess -v 3 -e $engine -u tbtrap -a SHA -A "$auth" -x AES -X "$priv" -l authPriv udp:127.0.0.1:11162
EOF
cat >"$work/snmptrapd.conf" <<EOF
createUser -e $engine tbtrap SHA "$auth" AES "$priv"
authCommunity log public
authUser log tbtrap priv
# One line per notification: the security (community or v3 user), then the varbinds.
format2 TRAP %P | %V~ %v\n
EOF
# The CLI's v3 session comes from the environment's config (-C not needed: a file of our own).
site_snmp_cli_conf tbadmin "$auth" "$priv" >"$work/cli/snmp.conf"
umask 022
# snmpwalk/snmpget v3 authPriv from the file above (SNMPCONFPATH), numeric OIDs, no MIB text.
snmp() {
  local tool=$1
  shift
  ip netns exec "$ns" env MIBS= SNMPCONFPATH="$work/cli" SNMP_PERSISTENT_DIR="$work/cli" \
    "$tool" -On -Oe -Ot -r 1 -t 2 "$agent" "$@"
}
sget() { snmp snmpget "$@" 2>/dev/null; }
swalk() { snmp snmpwalk "$@" 2>/dev/null; }

start_snmpd() {
  ip netns exec "$ns" env MIBS= SNMP_PERSISTENT_DIR="$work/snmpd" \
    snmpd -f -C -c "$work/snmpd.conf" -Lf "$work/snmpd.log" -I -ifTable,ifXTable,interfaces &
  snmpd_pid=$!
  pids+=("$snmpd_pid")
  for _ in $(seq 1 50); do [ -S "$work/agentx.sock" ] && return 0; sleep 0.1; done
  fail "snmpd did not open its AgentX socket"
}
# until_ok SECONDS CMD...: runs CMD every 0.5 s until it succeeds; fails after SECONDS.
until_ok() {
  local end=$(($(date +%s) + $1))
  shift
  until "$@"; do [ "$(date +%s)" -lt "$end" ] || return 1; sleep 0.5; done
}
api_ok() { sget 1.3.6.1.4.1.32473.1.1.1.0 | grep -q 'INTEGER: 1$'; }

"$lab" up >/dev/null || fail "lab up"
lab_dir=/run/traboule-lab/$name
ip netns exec "$ns" env MIBS= SNMP_PERSISTENT_DIR="$work/trapd" \
  snmptrapd -f -C -c "$work/snmptrapd.conf" -Lf "$work/traps.log" -On udp:127.0.0.1:11162 &
pids+=($!)
start_snmpd
# The viewer token by file: never on a command line. TZ as the daemon's report (Europe/Paris).
ip netns exec "$ns" env TZ=Europe/Paris SNMP_PERSISTENT_DIR="$work/snmpd" "$sub_bin" \
  --token-file "$lab_dir/tokens/viewer" --ca "$lab_dir/edge/api.crt" \
  --agentx-socket "$work/agentx.sock" --agentx-ping 2 --interval 1 >"$work/sub.log" 2>&1 &
sub_pid=$!
pids+=("$sub_pid")
until_ok 20 api_ok || fail "traboule-snmp did not answer through snmpd within 20 s"
grep -q "$(cat "$lab_dir/tokens/viewer")" "$work/sub.log" && fail "the token is in the log"
pass "snmpd, snmptrapd and traboule-snmp up in $ns ($(($(date +%s) - t_start)) s)"

# --- 1. IF-MIB over v3 authPriv: ports and octets against traboulectl counters.
"$lab" exec lan1 curl -s -o /dev/null http://198.51.100.10/bytes/3000000 || fail "lan1 download"
ctl_counters() { "$lab" exec edge traboulectl --json counters >"$1"; }
ctl_counters "$work/c0.json"
sleep 2.5  # more than one polling interval (1 s) and one agent loop (1 s): the walk is newer
swalk 1.3.6.1.2.1.31.1.1.1 >"$work/ifx.txt" || fail "snmpwalk v3 authPriv of ifXTable"
ctl_counters "$work/c1.json"
swalk 1.3.6.1.2.1.2.2.1.2 >"$work/ifdescr.txt" || fail "snmpwalk ifDescr"
"$py" - "$work/ifx.txt" "$work/c0.json" "$work/c1.json" <<'PYEOF' || fail "IF-MIB does not match traboulectl counters: $(head -30 "$work/ifx.txt")"
import json, re, sys
rows = {}
for line in open(sys.argv[1]):
    m = re.match(r"\.1\.3\.6\.1\.2\.1\.31\.1\.1\.1\.(\d+)\.(\d+) = (\w+): (.*)", line.strip())
    if m:
        rows.setdefault(int(m.group(2)), {})[int(m.group(1))] = m.group(4).strip('"')
before = json.load(open(sys.argv[2]))["counters"]
after = json.load(open(sys.argv[3]))["counters"]
names = {r[1]: i for i, r in rows.items() if 1 in r}
assert set(names) == {"lan", "fiber", "vdsl", "4g"}, names
assert names["lan"] == 1000 and all(1000 < names[u] < 1010 for u in ("fiber", "vdsl", "4g")), names
for up in ("lan", "fiber", "vdsl", "4g"):
    r = rows[names[up]]
    for col, key in ((6, "rx_bytes"), (7, "rx_packets"), (10, "tx_bytes"), (11, "tx_packets")):
        k = "port.%s.%s" % (up, key)  # the driver's counters, what the line carried
        v = int(r[col])
        # The subagent's snapshot is newer than `before` and older than `after`.
        assert before[k] <= v <= after[k], (up, col, before[k], v, after[k])
fiber = rows[names["fiber"]]
assert int(fiber[6]) > 3000000, fiber  # lan1's 3 MB came in by fiber (breakout)
lan = rows[names["lan"]]
assert int(lan[10]) > 3000000, lan  # and left by the LAN port
print("ok: ifXTable (v3 authPriv): lan, fiber, vdsl, 4g; fiber in %s B, lan out %s B, within the counters' readings"
      % (fiber[6], lan[10]))
PYEOF
grep -q 'Traboule uplink fiber (DPDK port' "$work/ifdescr.txt" || fail "ifDescr: $(cat "$work/ifdescr.txt")"

# --- 2. TRABOULE-MIB paths against traboulectl links; HOST-RESOURCES from snmpd itself.
# A path stays "unknown" until its probes settle it, and the 4g paths (~40 ms, lossy) settle last;
# the subagent's snapshot trails the daemon by up to one polling interval and one agent loop. So:
# wait until the daemon has settled every path, give the subagent time to catch up, and read the
# daemon before and after the walk: each path's state in the MIB is one of those readings.
settled() {
  "$lab" exec edge traboulectl --json links >"$work/links0.json" &&
    "$py" - "$work/links0.json" <<'PYEOF'
import json, sys
d = json.load(open(sys.argv[1]))
ups = d["uplinks"] if isinstance(d, dict) else d
sys.exit(0 if all(p["state"] in ("up", "down") for u in ups for p in u["paths"]) else 1)
PYEOF
}
until_ok 20 settled || fail "paths not settled within 20 s: $(cat "$work/links0.json")"
sleep 2.5
"$lab" exec edge traboulectl --json links >"$work/links.json"
swalk 1.3.6.1.4.1.32473.1.4.1 >"$work/paths.txt" || fail "snmpwalk trbPathTable"
"$lab" exec edge traboulectl --json links >"$work/links2.json"
"$py" - "$work/paths.txt" "$work/links.json" "$work/links0.json" "$work/links2.json" <<'PYEOF' || fail "trbPathTable does not match traboulectl links: $(head -20 "$work/paths.txt")"
import json, re, sys
rows = {}
for line in open(sys.argv[1]):
    m = re.match(r"\.1\.3\.6\.1\.4\.1\.32473\.1\.4\.1\.(\d+)\.(\d+)\.([\d.]+) = (\w+): (.*)", line.strip())
    if m:
        rows.setdefault((int(m.group(2)), m.group(3)), {})[int(m.group(1))] = m.group(5).strip('"')
by_name = {r[2]: r for r in rows.values() if 2 in r}
def paths(f):
    d = json.load(open(f))
    return [p for u in (d["uplinks"] if isinstance(d, dict) else d) for p in u["paths"]]
others = [{p["name"]: p["state"] for p in paths(f)} for f in sys.argv[3:]]
n = 0
for p in paths(sys.argv[2]):
    r = by_name[p["name"]]
    seen = [p["state"]] + [o.get(p["name"]) for o in others]
    assert r[3] in {{"up": "2", "down": "3"}.get(s, "1") for s in seen}, (p["name"], seen, r)
    ctl = p["rtt_us"]["avg"]
    snmp = int(r[4])
    # Two reads of the daemon's moving RTT average, up to ~2 s apart (one polling interval
    # and one agent loop): with probes every 100 ms the average takes in some 20 new samples
    # meanwhile, and on the lab's noisiest link (4g: ~40 ms, jitter ~10 ms) it moves by a few
    # ms. 25 % (at least 1 ms) catches a wrong unit (ms or ns) or a wrong path, not noise.
    assert abs(snmp - ctl) <= max(1000, 0.25 * ctl), (p["name"], snmp, ctl)
    n += 1
    print("   %-24s rtt snmp %6d us, traboulectl %8.0f us" % (p["name"], snmp, ctl))
assert n >= 6 and n == len(by_name), (n, sorted(by_name))
print("ok: trbPathTable: %d paths, state and RTT as traboulectl links" % n)
PYEOF
sget 1.3.6.1.2.1.25.2.2.0 1.3.6.1.4.1.2021.11.50.0 >"$work/host.txt" || fail "HOST-RESOURCES/UCD from snmpd"
grep -q 'INTEGER: [1-9]' "$work/host.txt" && grep -q 'Counter32: ' "$work/host.txt" ||
  fail "hrMemorySize / ssCpuRawUser: $(cat "$work/host.txt")"
pass "snmpd's own HOST-RESOURCES/UCD: hrMemorySize and ssCpuRawUser answer"

# --- 3. a fiber cut: pathDown and a P1 incident, v2c and v3, then pathUp.
fiber_ctl=$("$lab" status --json | "$py" -c 'import json,sys; print(json.load(sys.stdin)["links"]["fiber"]["ctl"])')
# has_trap SECURITY OID-TAIL...: a line of snmptrapd's log from that community/user with all of them.
has_trap() {
  local sec=$1 line
  shift
  while IFS= read -r line; do
    case $line in "TRAP "*"$sec"*) ;; *) continue ;; esac
    local all=1 w
    for w in "$@"; do [[ $line == *"$w"* ]] || all=0; done
    [ $all -eq 1 ] && return 0
  done <"$work/traps.log"
  return 1
}
down_v=".1.3.6.1.6.3.1.1.4.1.0 = OID: .1.3.6.1.4.1.32473.0.1"
up_v=".1.3.6.1.6.3.1.1.4.1.0 = OID: .1.3.6.1.4.1.32473.0.2"
inc_v=".1.3.6.1.6.3.1.1.4.1.0 = OID: .1.3.6.1.4.1.32473.0.3"
fiber_hub='STRING: "fiber/hub"'
p1='.1.3.6.1.4.1.32473.1.7.1.0 = INTEGER: 2'
subj='.1.3.6.1.4.1.32473.1.7.4.0 = STRING: "fiber"'
cut0=$(date +%s)
"$wanem" ctl --ctl "$fiber_ctl" down >/dev/null
for sec in public tbtrap; do
  until_ok 8 has_trap "$sec" "$down_v" "$fiber_hub" || fail "no trbPathDown fiber/hub from $sec"
  until_ok 8 has_trap "$sec" "$inc_v" "$p1" "$subj" || fail "no P1 trbIncident for fiber from $sec"
done
pass "fiber cut: trbPathDown and P1 trbIncident at snmptrapd, v2c and v3, $(($(date +%s) - cut0)) s after the cut"
sleep $((cut0 + 10 - $(date +%s)))
"$wanem" ctl --ctl "$fiber_ctl" up >/dev/null
for sec in public tbtrap; do
  until_ok 12 has_trap "$sec" "$up_v" "$fiber_hub" || fail "no trbPathUp fiber/hub from $sec"
done
pass "fiber back: trbPathUp at snmptrapd, v2c and v3 ($(grep -c '^TRAP' "$work/traps.log") notifications in all)"

# --- 4. the daemon restarted, then snmpd restarted.
"$lab" restart edge >/dev/null || fail "restart edge"
kill -0 "$sub_pid" 2>/dev/null || fail "traboule-snmp died while the daemon restarted"
until_ok 20 api_ok || fail "traboule-snmp did not serve again after the daemon's restart"
pass "daemon restarted: traboule-snmp kept running and serves again"
kill "$snmpd_pid"
wait "$snmpd_pid" 2>/dev/null || true
rm -f "$work/agentx.sock"
t0=$(date +%s)
start_snmpd
until_ok 25 api_ok || fail "traboule-snmp not back 25 s after snmpd restarted"
back=$(($(date +%s) - t0))
[ "$back" -le 20 ] || fail "traboule-snmp took $back s to come back (want <= 20 s)"
kill -0 "$sub_pid" 2>/dev/null || fail "traboule-snmp died"
pass "snmpd restarted: traboule-snmp registered again after $back s"
echo "PASS: snmp ($(($(date +%s) - t_start)) s)"
