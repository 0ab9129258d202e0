#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# An uplink on a VLAN (docs/kernel.md "VLANs"), in the lab with fiber on VLAN 832 of its line,
# as on an FTTH ONT port (tools/lab up --fiber-vlan 832 --twins; wanem-fiber plays the
# operator's access network and takes the tag off towards the core):
#   - with vdsl and 4g down, lan1 reaches dc1 through the overlay and inet through the breakout,
#     so over fiber; probes on fiber answer;
#   - a capture on the line (wanem-fiber's site side) holds only frames tagged 832, both ways,
#     and wanem dropped nothing for a missing tag (nothing the edge sent left untagged: ARP,
#     probes, NAT, the kernel twin's own traffic);
#   - the edge's kernel (twin tw-fiber) pings the core through the VLAN;
#   - hostile frames on the line (untagged, VLAN 840, a priority tag) addressed to the edge are
#     parse.vlan_foreign drops, and the UDP inside them reaches nobody. An 802.1ad tag with id
#     832 is sent too: AF_PACKET hands DPDK's driver the tag apart from the frame and the driver
#     keeps the id, not the TPID, so on this port it reads as VLAN 832 (docs/kernel.md "VLANs";
#     the unit test refuses it with the tag in the frame): the firewall still keeps its UDP
#     from lan1.
# Usage: vlan_test.sh BUILD_DIR
set -euo pipefail

# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_init "$1" vl tcpdump nft
e2e_need_tun
on_fail() {
  "$lab" exec edge traboulectl counters 2>&1 | grep -E "vlan|parse\.|tx\.|twin" | head -40 || true
  "$build/tools/wanem/traboule-wanem" ctl --ctl "$state/wanem-fiber.sock" show 2>&1 | head -20 || true
}
counter() {
  "$lab" exec edge traboulectl --json counters "$1" 2>/dev/null |
    "$py" -c 'import json,sys; d=json.load(sys.stdin); c=d.get("counters", d); print(c.get(sys.argv[1], 0))' "$1"
}
wanem_vlan_drops() {  # frames from the edge (upload) that wanem refused for a missing tag
  "$build/tools/wanem/traboule-wanem" ctl --ctl "$state/wanem-fiber.sock" show --json |
    "$py" -c 'import json,sys; d=json.load(sys.stdin); print(d["a2b"]["counters"]["dropped"]["vlan"])'
}

"$lab" up --fiber-vlan 832 --twins --no-supervision >"$work/up.txt" 2>&1 ||
  { cat "$work/up.txt"; fail "lab up --fiber-vlan 832 --twins"; }
pass "lab '$name' up, fiber on VLAN 832 (the edge resolved its gateway through the tag)"

"$lab" exec edge traboulectl --json status | "$py" -c '
import json, sys
ports = {p["name"]: p for p in json.load(sys.stdin)["daemon"]["ports"]}
assert ports["fiber"].get("vlan") == 832, ports["fiber"]
assert "vlan" not in ports["vdsl"], ports["vdsl"]
' || fail "GET /status does not show fiber on VLAN 832"
pass "GET /status: fiber is on VLAN 832, vdsl untagged"

# Only fiber is left: what reaches dc1 and inet went over the VLAN.
"$lab" impair vdsl down >/dev/null
"$lab" impair 4g down >/dev/null
ip netns exec "$(ns wanem-fiber)" timeout 25 tcpdump -e -nn -i site -w "$work/line.pcap" \
  >/dev/null 2>&1 &
dump=$!
sleep 3 # the paths on vdsl and 4g are judged down; tcpdump is capturing
ip netns exec "$(ns lan1)" ping -c 10 -i 0.2 -W 2 10.10.0.10 >"$work/ping-dc1.txt" 2>&1 ||
  fail "lan1 → dc1 over fiber on VLAN 832: $(tail -2 "$work/ping-dc1.txt")"
pass "lan1 → dc1 through the overlay on fiber's VLAN: $(grep -o '[0-9]* received' "$work/ping-dc1.txt")"
ip netns exec "$(ns lan1)" ping -c 10 -i 0.2 -W 2 198.51.100.10 >"$work/ping-inet.txt" 2>&1 ||
  fail "lan1 → inet over fiber on VLAN 832: $(tail -2 "$work/ping-inet.txt")"
pass "lan1 → inet through the breakout on fiber's VLAN: $(grep -o '[0-9]* received' "$work/ping-inet.txt")"
"$lab" exec edge ping -c 3 -i 0.3 -W 2 100.64.1.1 >"$work/ping-kernel.txt" 2>&1 ||
  fail "the edge's kernel (tw-fiber) → core over the VLAN: $(tail -2 "$work/ping-kernel.txt")"
pass "the edge's kernel pings the core from tw-fiber through the VLAN"
kill -INT "$dump" 2>/dev/null || true
wait "$dump" 2>/dev/null || true

tagged=$(tcpdump -nn -r "$work/line.pcap" 'vlan 832' 2>/dev/null | wc -l)
untagged=$(tcpdump -nn -r "$work/line.pcap" 'not vlan' 2>/dev/null | wc -l)
tagged_in=$(tcpdump -nn -r "$work/line.pcap" 'vlan 832 and src host 100.64.1.2' 2>/dev/null | wc -l)
tagged_out=$(tcpdump -nn -r "$work/line.pcap" 'vlan 832 and dst host 100.64.1.2' 2>/dev/null | wc -l)
[ "$tagged_in" -ge 20 ] && [ "$tagged_out" -ge 20 ] ||
  fail "the line carried $tagged_in tagged frames from the edge and $tagged_out to it (want ≥ 20 each)"
[ "$untagged" -eq 0 ] || fail "the line carried $untagged untagged frames: $(tcpdump -e -nn -r "$work/line.pcap" 'not vlan' 2>/dev/null | head -3)"
pass "the line carried $tagged frames, all tagged 832 ($tagged_in from the edge, $tagged_out to it), none untagged"
[ "$(wanem_vlan_drops)" = 0 ] || fail "wanem dropped $(wanem_vlan_drops) frames from the edge without the tag"
pass "nothing the edge sent on fiber lacked the tag (wanem's vlan drops: 0)"

# Hostile frames on the line, to the edge's fiber MAC, each holding a UDP datagram for lan1.
edge_mac=$(ip netns exec "$(ns edge)" cat /sys/class/net/fiber/address)
ip netns exec "$(ns lan1)" timeout 8 "$py" "$here/traffic.py" udp-recv --bind 0.0.0.0 --port 5999 \
  --count 1 --timeout 6 >"$work/lan1-recv.json" 2>/dev/null &
recv=$!
sleep 1
before=$(counter parse.vlan_foreign)
ip netns exec "$(ns wanem-fiber)" "$py" - "$edge_mac" <<'EOF' || fail "could not send the hostile frames"
import socket, struct, sys
dst = bytes.fromhex(sys.argv[1].replace(":", ""))
src = bytes.fromhex("02aabbccdd01")
def ip4(a): return socket.inet_aton(a)
def csum(b):
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xffff)
    return (~(s + (s >> 16))) & 0xffff
payload = b"traboule-vlan-hostile"
udp = struct.pack("!HHHH", 40000, 5999, 8 + len(payload), 0) + payload
hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0,
                  ip4("198.51.100.10"), ip4("192.168.10.11"))
hdr = hdr[:10] + struct.pack("!H", csum(hdr)) + hdr[12:]
ip = hdr + udp
frames = [
    dst + src + b"\x08\x00" + ip,                                 # untagged
    dst + src + b"\x81\x00" + struct.pack("!H", 840) + b"\x08\x00" + ip,   # another VLAN
    dst + src + b"\x88\xa8" + struct.pack("!H", 832) + b"\x08\x00" + ip,   # 802.1ad, id 832
    dst + src + b"\x81\x00" + struct.pack("!H", 0x6000) + b"\x08\x00" + ip,  # priority tag
]
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(("site", 0))
for _ in range(25):
    for f in frames:
        s.send(f)
EOF
sleep 2
after=$(counter parse.vlan_foreign)
wait "$recv" 2>/dev/null || true
got=$("$py" -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["unique"] + d["foreign"])' "$work/lan1-recv.json" 2>/dev/null || echo "?")
[ "$((after - before))" -ge 75 ] || fail "parse.vlan_foreign went from $before to $after for 75 frames of other VLANs"
[ "$got" = 0 ] || fail "lan1 received $got datagrams from the hostile frames ($(cat "$work/lan1-recv.json"))"
pass "75 frames of other VLANs on fiber's line: parse.vlan_foreign +$((after - before)); lan1 received nothing of them nor of 25 802.1ad ones"

echo "PASS: vlan_test"
