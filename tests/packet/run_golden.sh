#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Golden test: the real trabouled on net_pcap ports reads the input captures written by
# make_golden_inputs and writes one capture per port; each must equal the reviewed capture in
# golden/, and the counters it prints on exit must include golden/expected_counters.txt.
#   run_golden.sh TRABOULED MAKE_INPUTS [--update]   (--update rewrites golden/ from this run)
set -euo pipefail
trabouled=$1
make_inputs=$2
update=${3:-}
here=$(cd "$(dirname "$0")" && pwd)
golden=$here/golden
work=$(mktemp -d /tmp/tb-golden.XXXXXX)
prefix=tbgold$$
pid=
cleanup() {
  [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  rm -rf "$work" "/var/run/dpdk/$prefix"
}
trap cleanup EXIT

"$make_inputs" "$work"
cat > "$work/edge.json" <<JSON
{
  "eal": ["--no-huge", "--file-prefix", "$prefix", "--log-level", "*:warning", "-l", "0"],
  "dataplane": { "workers": 1, "mbufs": 8191 },
  "flows": { "capacity": 4096 },
  "lan": {
    "device": "net_pcap0,rx_pcap=$work/lan_in.pcap,tx_pcap=$work/lan_out.pcap",
    "mac": "02:00:00:00:0a:01", "ipv4": "192.168.10.1/24", "ipv6": "fd00:10::1/64"
  },
  "uplinks": [
    { "name": "fiber",
      "device": "net_pcap1,rx_pcap=$work/fiber_in.pcap,tx_pcap=$work/fiber_out.pcap",
      "mac": "02:00:00:00:0b:01", "ipv4": "100.64.1.2/24", "gateway4": "100.64.1.1",
      "ipv6": "fd00:64:1::2/64", "gateway6": "fd00:64:1::1", "gateway_mac": "02:00:00:00:0b:fe" },
    { "name": "vdsl",
      "device": "net_pcap2,rx_pcap=$work/vdsl_in.pcap,tx_pcap=$work/vdsl_out.pcap",
      "mac": "02:00:00:00:0c:01", "ipv4": "100.64.2.2/24", "gateway4": "100.64.2.1",
      "gateway_mac": "02:00:00:00:0c:fe" }
  ],
  "policy": "$work/policy.json",
  "state_dir": "$work/state"
}
JSON
cat > "$work/policy.json" <<JSON
{
  "version": 1,
  "uplinks": [
    { "name": "fiber", "kind": "fiber", "up_kbps": 100000, "down_kbps": 1000000 },
    { "name": "vdsl", "kind": "vdsl", "up_kbps": 20000, "down_kbps": 80000 }
  ],
  "rules": [
    { "name": "voice", "match": { "proto": "udp", "dst_ports": [5060] },
      "action": { "egress": "overlay", "uplinks": ["fiber", "vdsl"] } },
    { "name": "bulk", "match": { "proto": "tcp", "dst_ports": [5201] },
      "action": { "egress": "overlay", "uplinks": ["vdsl", "fiber"] } },
    { "name": "default", "action": { "egress": "overlay", "uplinks": ["fiber", "vdsl"] } }
  ]
}
JSON

"$trabouled" --config "$work/edge.json" > "$work/out.txt" 2>&1 &
pid=$!
for _ in $(seq 100); do
  grep -q "forwarding with" "$work/out.txt" && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
if ! grep -q "forwarding with" "$work/out.txt"; then
  echo "trabouled did not start:"; cat "$work/out.txt"; exit 1
fi
sleep 1.5   # the captures are read at once; give the worker time to finish
kill -TERM "$pid"
wait "$pid" || { echo "trabouled exited with an error:"; cat "$work/out.txt"; exit 1; }
pid=
cat "$work/out.txt"

if [ "$update" = "--update" ]; then
  mkdir -p "$golden"
  for p in lan fiber vdsl; do cp "$work/${p}_out.pcap" "$golden/${p}_out.pcap"; done
  echo "golden captures updated in $golden: review them (tcpdump -enr FILE -vv) before committing"
  exit 0
fi
status=0
for p in lan fiber vdsl; do
  echo "== $p"
  python3 "$here/pcap_compare.py" "$work/${p}_out.pcap" "$golden/${p}_out.pcap" || status=1
done
while read -r name value; do
  [ -z "$name" ] || [ "${name:0:1}" = "#" ] && continue
  if ! grep -qE "^  $name +$value\$" "$work/out.txt"; then
    echo "counter $name: expected $value, got: $(grep -E "^  $name " "$work/out.txt" || echo none)"
    status=1
  fi
done < "$golden/expected_counters.txt"
exit $status
