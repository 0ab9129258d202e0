#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# QoS end to end (issue 6) in a tools/lab site: vdsl's upstream limited to 2 Mbit/s by its
# wanem (the "modem"), the policy shaping vdsl to 1.9 Mbit/s in the box. A bulk TCP upload
# (iperf3, lan1 → dc1 over the overlay) saturates it while a voice-like stream (50 packets/s,
# 200 bytes, DSCP EF) runs. With QoS on:
#  - the delay the box adds to voice, its time in the box's queue measured by the data plane
#    (qos.vdsl.class0.queue_p99_us, the voice class), has p99 <= 10 ms;
#  - voice loses nothing, and bulk gets >= 80 % of what voice leaves of the 2 Mbit/s;
#  - end to end (lan1 → dc1, exact one-way delays: the namespaces share one clock), voice's p99
#    added delay is a third of what it is with QoS off at most. End to end also counts the OS
#    scheduling of the ~10 lab processes sharing the machine's 2 cores (wanems, hub, iperf3...):
#    8.1 ms in one run, 21.4 ms in another, so the 10 ms bound is asserted on the box's own share.
# The same run with QoS off (no classes: no scheduling, no shaping; the queue builds in the modem)
# is measured and printed for comparison.
# Usage: qos_test.sh BUILD_DIR
set -euo pipefail

# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_init "$1" qo
on_fail() {
  "$lab" exec edge traboulectl counters qos 2>&1 | head -30 || true
}
jget() { "$py" -c 'import json,sys; d=json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."): d=d[k]
print(d)' "$1" "$2"; }

"$lab" up --no-supervision >/dev/null || fail "lab up"
vdsl_ctl=$("$lab" status --json | "$py" -c 'import json,sys; print(json.load(sys.stdin)["links"]["vdsl"]["ctl"])')
# The modem: 2 Mbit/s upstream, no added delay or loss (so what is measured is queueing).
"$wanem" ctl --ctl "$vdsl_ctl" dir=both delay=0ms jitter=0ms loss=0% >/dev/null
"$wanem" ctl --ctl "$vdsl_ctl" dir=a2b rate=2mbit >/dev/null

"$lab" exec edge traboulectl policy show >"$work/base.json" || fail "policy show"
# policy ON|OFF FILE: voice (udp 7300) and bulk (tcp 5201 to dc1) on vdsl only, over the overlay.
policy() {
  local mode
  if [ "$1" = on ]; then
    mode='for c in p["qos_classes"]:
    if c["name"] == "voice":
        c["max_rate_kbps"] = 400  # strict priority, policed so it cannot starve the others'
  else
    mode='p.pop("qos_classes", None)
for r in p["rules"]:
    r["action"].pop("qos_class", None)'
  fi
  "$py" "$json_edit" "$work/base.json" --out "$2" '
for u in p["uplinks"]:
    if u["name"] == "vdsl":
        u["up_kbps"] = 1900' '
rules = [
    {"name": "qos-voice", "match": {"proto": "udp", "dst_ports": [7300]},
     "action": {"egress": "overlay", "uplinks": ["vdsl"], "qos_class": "voice"}},
    {"name": "qos-bulk", "match": {"proto": "tcp", "dst_ports": [5201]},
     "action": {"egress": "overlay", "uplinks": ["vdsl"], "qos_class": "bulk"}},
]
p["rules"] = rules + [r for r in p["rules"] if r["name"] != "bulk-vdsl"]  # same match as qos-bulk' \
    "$mode" || fail "policy $1"
}
# run LABEL: voice alone (baseline), then voice during a bulk upload; prints the figures.
run() {
  local label=$1
  ip netns exec "$(ns dc1)" "$py" "$traffic" udp-recv --bind 10.10.0.10 --port 7300 --count 200 \
    --timeout 20 --idle 3 >"$work/$label-idle.json" || true &
  local r=$!
  sleep 0.3
  ip netns exec "$(ns lan1)" "$py" "$traffic" udp-send --to 10.10.0.10 --port 7300 --count 200 \
    --rate 50 --size 200 --tos 184 >/dev/null
  wait "$r" || true
  ip netns exec "$(ns dc1)" iperf3 -s -1 -p 5201 >/dev/null 2>&1 &
  local s=$!
  sleep 0.5
  ip netns exec "$(ns lan1)" iperf3 -c 10.10.0.10 -p 5201 -t 14 -J >"$work/$label-bulk.json" 2>&1 &
  local c=$!
  sleep 4  # the upload fills its queue first
  ip netns exec "$(ns dc1)" "$py" "$traffic" udp-recv --bind 10.10.0.10 --port 7300 --count 400 \
    --timeout 20 --idle 3 >"$work/$label-load.json" || true &
  r=$!
  sleep 0.3
  ip netns exec "$(ns lan1)" "$py" "$traffic" udp-send --to 10.10.0.10 --port 7300 --count 400 \
    --rate 50 --size 200 --tos 184 >/dev/null
  wait "$r" || true
  wait "$c" || true
  wait "$s" 2>/dev/null || true
  "$py" - "$work" "$label" <<'PYEOF'
import json, sys
w, label = sys.argv[1], sys.argv[2]
idle = json.load(open(f"{w}/{label}-idle.json"))
load = json.load(open(f"{w}/{label}-load.json"))
bulk = json.load(open(f"{w}/{label}-bulk.json"))
iv = [i["sum"]["bits_per_second"] for i in bulk["intervals"]]
steady = iv[4:-1] if len(iv) > 6 else iv  # while the voice stream ran
out = {
    "label": label,
    "voice_idle_owd_ms": idle["owd_ms"],
    "voice_load_owd_ms": load["owd_ms"],
    "voice_lost": load["missing"], "voice_dups": load["duplicates"],
    "added_p99_ms": round(load["owd_ms"]["p99"] - idle["owd_ms"]["p50"], 3),
    "bulk_mbps": round(sum(steady) / len(steady) / 1e6, 3),
}
json.dump(out, open(f"{w}/{label}.json", "w"))
print(json.dumps(out))
PYEOF
}

policy on "$work/on.json"
e2e_apply_policy "$work/on.json" on
sleep 1
# GET /qos says what the data plane does: voice and bulk enforced on vdsl (shaped to 1.9 Mbit/s).
"$lab" exec edge traboulectl --json qos >"$work/qos.json" || fail "traboulectl qos"
"$py" - "$work/qos.json" <<'PYEOF' || fail "GET /qos: $(head -c 600 "$work/qos.json")"
import json, sys
classes = {c["name"]: c for c in json.load(open(sys.argv[1]))["qos"]}
for name in ("voice", "bulk"):
    c = classes[name]
    vdsl = [u for u in c["uplinks"] if u["uplink"] == "vdsl"]
    assert c["enforced"] is True and vdsl and vdsl[0]["enforced"] is True, name
assert "ingress_max_bps" in classes["voice"], "no ingress_max_bps"
PYEOF
run on
"$lab" exec edge traboulectl counters qos.vdsl | head -30 || true
queue_p99=$("$lab" exec edge traboulectl --json counters qos.vdsl.class0.queue_p99_us | "$py" -c \
  'import json,sys; print(json.load(sys.stdin)["counters"].get("qos.vdsl.class0.queue_p99_us", -1))')
policy off "$work/off.json"
e2e_apply_policy "$work/off.json" off
sleep 1
run off

added=$(jget "$work/on.json" added_p99_ms)
lost=$(jget "$work/on.json" voice_lost)
bulk=$(jget "$work/on.json" bulk_mbps)
off_added=$(jget "$work/off.json" added_p99_ms)
echo "QoS on : voice p99 in the box's queue $queue_p99 us; end to end p99 added $added ms, lost $lost, bulk $bulk Mbit/s"
echo "QoS off: voice p99 added $off_added ms, lost $(jget "$work/off.json" voice_lost), bulk $(jget "$work/off.json" bulk_mbps) Mbit/s"
[ "$lost" -eq 0 ] || fail "voice lost $lost packets with QoS on"
[ "$queue_p99" -ge 0 ] || fail "no queue figures for the voice class"
"$py" -c "import sys; sys.exit(0 if $queue_p99 <= 10000 else 1)" ||
  fail "voice p99 time in the box's queue $queue_p99 us > 10 ms with QoS on"
"$py" -c "import sys; sys.exit(0 if $added * 3 <= $off_added else 1)" ||
  fail "end to end, voice p99 added $added ms with QoS on vs $off_added ms off: not a third"
# The rest of the 2 Mbit/s after voice (50 x 200 bytes + headers, ~0.1 Mbit/s), 80 % of it.
"$py" -c "import sys; sys.exit(0 if $bulk >= 0.8 * (2.0 - 0.1) else 1)" ||
  fail "bulk got $bulk Mbit/s of goodput (< 80 % of the 1.9 Mbit/s left by voice)"
echo "PASS: qos"
