#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# IPFIX flow export in the lab (docs/operations.md "IPFIX"), checked by collectors we did not
# write: nfcapd (nfdump) stores what the edge exports, tshark decodes the same datagrams.
#   1. lan1's iperf3 upload to inet (TCP 5201, the "bulk-vdsl" rule): nfdump's octets for
#      each direction match the IP octets a capture on lan1 saw, within 1 %; packets as well;
#      the upload enters by the LAN's ifIndex and leaves by vdsl's (1000 + DPDK port id);
#   2. an HTTPS request from lan1 with the SNI teams.microsoft.com: tshark decodes
#      applicationName "teams" and the engine-13 applicationId in its records, and the iperf3
#      upload's records name the lab policy's custom application "iperf3";
#   3. the edge's status counts the records it sent, and nfcapd saw no sequence error.
# Usage: ipfix_test.sh BUILD_DIR
set -euo pipefail

# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_init "$1" ix nfcapd nfdump tshark iperf3 curl tcpdump
pids=()
test_cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
}
e2e_cleanups+=(test_cleanup)
on_fail() {
  tail -n 5 "$work/nfcapd.out" 2>/dev/null || true
}

"$lab" up --clean >"$work/up.txt" 2>&1 || { cat "$work/up.txt"; fail "lab up"; }
pass "lab '$name' up"

# The collectors, in the edge's namespace where its config sends (127.0.0.1:4739), before any
# test flow exists; then one template refresh (5 s in the lab) so nfcapd knows the templates.
# The lab runs its own nfcapd there (docs/lab.md "Supervision"): use it; start one otherwise.
lab_dir="/run/traboule-lab/$name"
flows="$lab_dir/edge/flows"
nfcapd_pid=$(cat "$lab_dir/pids/edge-nfcapd.pid" 2>/dev/null || true)
if [ -n "$nfcapd_pid" ] && kill -0 "$nfcapd_pid" 2>/dev/null; then
  ln -s "$lab_dir/logs/edge-nfcapd.log" "$work/nfcapd.out"
else
  flows="$work/flows"
  mkdir -p "$flows"
  ip netns exec "$(ns edge)" nfcapd -w "$flows" -p 4739 -b 127.0.0.1 -t 3600 -I lab \
    >"$work/nfcapd.out" 2>&1 &
  nfcapd_pid=$!
  pids+=("$nfcapd_pid")
fi
ip netns exec "$(ns edge)" tshark -q -i lo -f 'udp port 4739' -w "$work/ipfix.pcap" \
  >"$work/tshark.out" 2>&1 &
pids+=($!)
# The reference: what lan1's interface carries for the test flows.
ip netns exec "$(ns lan1)" tcpdump -q -n -i eth0 -B 16384 -s 128 -w "$work/lan1.pcap" \
  'tcp port 5201 or tcp port 443' >"$work/tcpdump.out" 2>&1 &
tcpdump_pid=$!
pids+=("$tcpdump_pid")
sleep 6
kill -0 "$nfcapd_pid" 2>/dev/null || fail "nfcapd did not start: $(cat "$work/nfcapd.out")"

# 1. The upload, paced so the capture keeps up.
ip netns exec "$(ns inet)" iperf3 -s -1 -p 5201 >/dev/null 2>&1 &
pids+=($!)
sleep 1
"$lab" exec lan1 iperf3 -c 198.51.100.10 -p 5201 -n 20M -b 40M -J >"$work/iperf.json" 2>&1 ||
  fail "iperf3: $(tail -5 "$work/iperf.json")"
# 2. A Teams connection by its SNI (inet's self-signed server answers any name).
"$lab" exec lan1 curl -sk -m 10 -o /dev/null --resolve teams.microsoft.com:443:198.51.100.10 \
  https://teams.microsoft.com/ || fail "curl https://teams.microsoft.com (inet)"
# Both TCP flows closed: their records leave at the next walk (1 s); the active timeout (10 s)
# is the bound for anything still open.
sleep 12
kill -INT "$tcpdump_pid"
wait "$tcpdump_pid" 2>/dev/null || true
grep -q "^0 packets dropped by kernel" "$work/tcpdump.out" ||
  fail "the reference capture dropped packets: $(cat "$work/tcpdump.out")"
"$lab" exec edge traboulectl --json status >"$work/status.json" || fail "traboulectl status"
# SIGTERM makes nfcapd write its current file; wait for it to be gone (not our child if the
# lab started it).
kill -TERM "$nfcapd_pid"
for _ in $(seq 1 50); do kill -0 "$nfcapd_pid" 2>/dev/null || break; sleep 0.1; done
"$lab" exec edge traboulectl --json links >"$work/links.json" || fail "traboulectl links"
vdsl_if=$("$py" -c 'import json,sys
for u in json.load(open(sys.argv[1]))["uplinks"]:
    if u["name"] == "vdsl": print(1000 + u["port"])' "$work/links.json")
[ -n "$vdsl_if" ] || fail "no vdsl uplink in $(head -c 300 "$work/links.json")"

# What lan1 saw: IP octets and packets per direction of the data connection (the largest).
ip netns exec "$(ns lan1)" tshark -r "$work/lan1.pcap" -Y 'tcp.port == 5201' -T fields \
  -e ip.src -e tcp.srcport -e tcp.dstport -e ip.len >"$work/lan1.txt" 2>/dev/null
nfdump -R "$flows" -o csv 'proto tcp and port 5201' >"$work/nfdump.csv" 2>"$work/nfdump.err" ||
  fail "nfdump: $(cat "$work/nfdump.err")"
"$py" - "$work/lan1.txt" "$work/nfdump.csv" "$vdsl_if" <<'PYEOF' || fail "iperf3 flow's records"
import collections, csv, sys
ref = collections.defaultdict(lambda: [0, 0])   # (sport, dport) -> [octets, packets]
for line in open(sys.argv[1]):
    src, sp, dp, ln = line.split()
    ref[(int(sp), int(dp))][0] += int(ln)
    ref[(int(sp), int(dp))][1] += 1
rows = list(csv.reader(open(sys.argv[2])))
head = rows[0]  # the header line (no -q)
col = {n: i for i, n in enumerate(head)}
got = collections.defaultdict(lambda: [0, 0])
ifs = set()
for r in rows[1:]:
    if len(r) < len(head) or not r[col["sp"]].isdigit():
        continue
    key = (int(r[col["sp"]]), int(r[col["dp"]]))
    got[key][0] += int(r[col["ibyt"]])
    got[key][1] += int(r[col["ipkt"]])
    ifs.add((key, r[col["in"]], r[col["out"]]))
# The data connection: the client port with the most octets going up.
data = max((k for k in ref if k[1] == 5201), key=lambda k: ref[k][0])
back = (data[1], data[0])
for k in (data, back):
    want, have = ref[k], got.get(k, [0, 0])
    err = abs(have[0] - want[0]) / max(want[0], 1)
    print("  %s: capture %d octets %d packets, IPFIX %d octets %d packets (%.3f %%)" %
          (k, want[0], want[1], have[0], have[1], 100 * err))
    if err > 0.01 or abs(have[1] - want[1]) > max(2, want[1] // 100):
        sys.exit("direction %s: IPFIX %r vs capture %r" % (k, have, want))
print("  interfaces (flow, in, out):", sorted(ifs))
up = [i for i in ifs if i[0] == data]
if not up or any(i[1] == "0" or i[1] == i[2] or i[2] != sys.argv[3] for i in up):
    sys.exit("upload records: want in = the LAN, out = vdsl (%s): %r" % (sys.argv[3], up))
PYEOF
pass "nfdump: lan1's iperf3 upload and its replies, octets within 1 % of lan1's capture"

# The application's name and id, decoded by tshark.
tshark -r "$work/ipfix.pcap" -d udp.port==4739,cflow -T fields -E separator=, -E occurrence=a \
  -e cflow.dstport -e cflow.appl_name -e cflow.appl_id.classification_engine_id \
  >"$work/apps.txt" 2>/dev/null || fail "tshark could not read the IPFIX capture"
grep -q "teams" "$work/apps.txt" ||
  fail "no applicationName teams in the export: $(sort -u "$work/apps.txt" | head -10)"
grep -E "(^|,)443(,|$)" "$work/apps.txt" | grep -q "teams" ||
  fail "the port 443 records do not say teams: $(grep 443 "$work/apps.txt" | head -5)"
grep -q ",13" "$work/apps.txt" || fail "no engine-13 applicationId: $(head -5 "$work/apps.txt")"
# The iperf3 upload: the lab policy's custom application "iperf3" (TCP 5201).
grep -E "(^|,)5201(,|$)" "$work/apps.txt" | grep -q "iperf3" ||
  fail "the port 5201 records do not say iperf3: $(grep 5201 "$work/apps.txt" | head -5)"
pass "tshark: the HTTPS flow's records name teams, lan1's iperf3 upload iperf3 (engine 13)"

"$py" - "$work/status.json" "$work/nfcapd.out" <<'PYEOF' || fail "exporter and collector figures"
import json, re, sys
st = json.load(open(sys.argv[1]))
ix = st.get("daemon", st).get("ipfix")
if not ix or ix["records"] < 4 or ix["messages"] < 1:
    sys.exit("status ipfix: %r" % ix)
print("  edge status ipfix:", ix)
log = open(sys.argv[2]).read()
m = re.findall(r"Sequence Errors: (\d+)", log)
if m and int(m[-1]) != 0:
    sys.exit("nfcapd: sequence errors: " + log[-400:])
PYEOF
pass "the edge counts its records; nfcapd saw no sequence error"
echo "PASS"
