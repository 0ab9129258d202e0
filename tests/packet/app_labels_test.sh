#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Application labels of replayed traffic: the real trabouled on net_pcap ports reads the captures
# written by make_app_captures (a LAN host's DNS lookup, HTTP download, TLS and QUIC with SNI,
# SIP and RTP, with the servers' answers on the fiber uplink), and the flows it lists on the API
# (GET /flows) must carry the catalog application below, with every packet counted on its flow.
#   app_labels_test.sh TRABOULED MAKE_APP_CAPTURES
set -euo pipefail
trabouled=$1
make_captures=$2
here=$(cd "$(dirname "$0")" && pwd)
py=/usr/bin/python3
# shellcheck source=tests/packet/pcap_site.sh
source "$here/pcap_site.sh"
pcap_init applabels tbapps

# The label each flow of flows.txt must get: the default catalog's names
# (controlplane/policy/app_catalog.cc). The DNS query names Teams but stays "dns" (its master
# wins, docs/classify.md); teams.microsoft.com is named by the SaaS lists (names stage, SNI) and
# by nDPI; YouTube by nDPI (TLS and QUIC).
cat > "$work/expected.txt" <<'EOF'
dns-lookup     dns
http-download  http
tls-teams      teams
tls-youtube    youtube
quic-youtube   youtube
sip-invite     sip
rtp-media      rtp
EOF

"$make_captures" "$work"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=127.0.0.1" \
  -addext "subjectAltName=IP:127.0.0.1" -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
token="viewer-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
token_hash=$(printf %s "$token" | sha256sum | cut -d' ' -f1)

# One worker: it polls the LAN port before the uplinks and a burst holds 64 frames, so the host's
# frames (fewer than 64) are all seen before the servers' answers. Each flow is thus created by
# its LAN side, and nDPI sees the client's packets first (the ClientHello before the SYN-ACK).
pcap_edge_config "$work" "$prefix" --api "$token_hash" >"$work/edge.json"
pcap_policy '[
    { "name": "default", "action": { "egress": "overlay", "uplinks": ["fiber", "vdsl"] } }
  ]' >"$work/policy.json"
pcap_start "$trabouled" "$work" --api

# Polls GET /flows until every flow of flows.txt has all its packets (at most 10 s), then checks
# each flow's label and packet counts and prints the table.
status=0
"$py" - "$port" "$token" "$work" <<'PY' || status=1
import json, ssl, sys, time, urllib.request

port, token, work = sys.argv[1], sys.argv[2], sys.argv[3]
manifest = []
for line in open(f"{work}/flows.txt"):
    if line.strip() and not line.startswith("#"):
        what, proto, src, sport, dst, dport, n_out, n_in = line.split()
        manifest.append(dict(what=what, proto=proto, src=src, sport=int(sport), dst=dst,
                             dport=int(dport), n_out=int(n_out), n_in=int(n_in)))
expected = dict(l.split() for l in open(f"{work}/expected.txt") if l.strip())
if sorted(expected) != sorted(m["what"] for m in manifest):
    sys.exit(f"expected.txt and flows.txt name different flows: {sorted(expected)}")

ctx = ssl.create_default_context(cafile=f"{work}/cert.pem")
def get_flows():
    req = urllib.request.Request(f"https://127.0.0.1:{port}/api/v1/flows?top=1000",
                                 headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, context=ctx, timeout=5) as r:
        return json.load(r)["flows"]

def find(flows, m):
    for f in flows:
        if (f.get("proto"), f.get("src"), f.get("src_port"), f.get("dst"), f.get("dst_port")) == \
           (m["proto"], m["src"], m["sport"], m["dst"], m["dport"]):
            return f
    return None

def complete(flows):
    for m in manifest:
        f = find(flows, m)
        if f is None or (f["packets_out"], f["packets_in"]) != (m["n_out"], m["n_in"]):
            return False
    return True

deadline = time.time() + 10
flows = get_flows()
while not complete(flows) and time.time() < deadline:
    time.sleep(0.2)
    flows = get_flows()

bad = 0
print(f"{'flow':14} {'5-tuple':50} {'out/in':>7} {'expected':>9} {'got':>9}  result")
for m in manifest:
    f = find(flows, m)
    tup = f"{m['proto']} {m['src']}:{m['sport']} -> {m['dst']}:{m['dport']}"
    want = expected[m["what"]]
    if f is None:
        got, counts, errs = "-", "-", ["no such flow"]
    else:
        got = f.get("app") or "-"
        counts = f"{f['packets_out']}/{f['packets_in']}"
        errs = []
        if got != want:
            errs.append("wrong label")
        if (f["packets_out"], f["packets_in"]) != (m["n_out"], m["n_in"]):
            errs.append(f"packets should be {m['n_out']}/{m['n_in']}")
        if not f.get("from_lan"):
            errs.append("not originated on the LAN")
    bad += bool(errs)
    print(f"{m['what']:14} {tup:50} {counts:>7} {want:>9} {got:>9}  "
          + ("ok" if not errs else "FAIL: " + ", ".join(errs)))
if bad:
    print(f"{bad} flow(s) wrong; all flows listed:")
    print(json.dumps(flows, indent=1))
sys.exit(1 if bad else 0)
PY

kill -TERM "$pid"
wait "$pid" || { echo "trabouled exited with an error:"; cat "$work/out.txt"; exit 1; }
pid=
# Which stage named what (docs/classify.md counters), for the log.
grep -E "^  (names\.app_by_|names\.dns_answers|classify\.(classified|given_up|unresolved_app))" \
  "$work/out.txt" || true
[ $status -eq 0 ] || { echo "--- daemon output"; cat "$work/out.txt"; }
exit $status
