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
# shellcheck source=tests/packet/pcap_site.sh
source "$here/pcap_site.sh"
pcap_init golden tbgold

"$make_inputs" "$work"
pcap_edge_config "$work" "$prefix" --ipv6 >"$work/edge.json"
pcap_policy '[
    { "name": "voice", "match": { "proto": "udp", "dst_ports": [5060] },
      "action": { "egress": "overlay", "uplinks": ["fiber", "vdsl"] } },
    { "name": "bulk", "match": { "proto": "tcp", "dst_ports": [5201] },
      "action": { "egress": "overlay", "uplinks": ["vdsl", "fiber"] } },
    { "name": "default", "action": { "egress": "overlay", "uplinks": ["fiber", "vdsl"] } }
  ]' >"$work/policy.json"
pcap_start "$trabouled" "$work"
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
