#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""STAMP interoperability: our packets decoded by an independent decoder (scapy's RFC 8762
layer), and RFC 8762 sender packets made by scapy answered correctly by our reflector.

Usage: /usr/bin/python3 stamp_decode_test.py PATH/TO/stamp_packets
Needs Debian's python3-scapy (2.5); no network, no root: packets go through pcap files.

scapy 2.5's STAMP layer reads its TLV list length from `pkt.parent`, which is not set while
dissecting, so it can decode only 44-byte packets: longer ones are decoded from their first 44
bytes here and their padding is checked byte by byte.
"""
import json
import os
import subprocess
import sys
import tempfile
import time

from scapy.all import IP, UDP, Ether, IPv6, Raw, rdpcap, wrpcap
from scapy.contrib.stamp import (ErrorEstimate,
                                 STAMPSessionReflectorTestUnauthenticated as Reflected,
                                 STAMPSessionSenderTestUnauthenticated as Sender)

NTP_UNIX = 2208988800
OUR_MAC = "02:00:00:00:00:20"
PEER_MAC = "02:00:00:00:00:aa"
OUR4, OUR6 = "203.0.113.2", "2001:db8:ff::2"
PEER4, PEER6 = "198.51.100.7", "2001:db8:99::7"

passed = 0
failed = 0


def check(cond, what):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print("FAIL: " + what)


def stamp_payload(pkt):
    return bytes(pkt[UDP].payload)


def raw_field(layer, name):
    """The field as carried on the wire (timestamps: the 64-bit integer, not seconds)."""
    return layer.fields[name]


def err_tuple(e):
    return (int(e.S), int(e.Z), int(e.scale), int(e.multiplier))


def err_from_raw(v):
    return (v >> 15 & 1, v >> 14 & 1, v >> 8 & 0x3F, v & 0xFF)


def checksums_ok(pkt):
    """Recomputes the IP and UDP checksums with scapy and compares with what we sent."""
    again = pkt.copy()
    if again.haslayer(IP):
        del again[IP].chksum
    del again[UDP].chksum
    again = Ether(bytes(again))
    ok = again[UDP].chksum == pkt[UDP].chksum
    if pkt.haslayer(IP):
        ok = ok and again[IP].chksum == pkt[IP].chksum
    return ok


def ntp_now():
    return time.time() + NTP_UNIX


def ntp_seconds(raw):
    return raw / 2**32


def ours_to_scapy(tool):
    """stamp_packets write: our sender and reflector packets, decoded by scapy."""
    with tempfile.TemporaryDirectory() as d:
        subprocess.run([tool, "write", d], check=True)
        with open(os.path.join(d, "expect.json")) as f:
            expect = json.load(f)["probes"]
        sent = rdpcap(os.path.join(d, "sender.pcap"))
        reflected = rdpcap(os.path.join(d, "reflected.pcap"))
    check(len(sent) == len(expect) == len(reflected) == 3, "three probes and three answers")
    now = ntp_now()
    for pkt, e, ans in zip(sent, expect, reflected):
        tag = "probe seq %d: " % e["seq"]
        v6 = ":" in e["remote"]
        ip = pkt[IPv6] if v6 else pkt[IP]
        check(ip.dst == e["remote"] and ip.src == (OUR6 if v6 else OUR4), tag + "addresses")
        check((ip.hlim if v6 else ip.ttl) == 255, tag + "TTL 255")
        check((ip.tc if v6 else ip.tos) >> 2 == e["dscp"], tag + "DSCP")
        check(v6 or ip.flags == "DF", tag + "DF set")
        check(pkt[UDP].sport == e["sport"] and pkt[UDP].dport == 862, tag + "ports")
        check(checksums_ok(pkt), tag + "checksums")
        payload = stamp_payload(pkt)
        check(len(payload) == e["length"], tag + "STAMP length %d" % len(payload))
        s = Sender(payload[:44])
        check(s.seq == e["seq"], tag + "seq")
        check(raw_field(s, "ts") == e["t1"], tag + "timestamp (T1) as stamped")
        check(abs(ntp_seconds(e["t1"]) - now) < 60, tag + "T1 is now")
        check(err_tuple(s.err_estimate) == err_from_raw(e["error"]), tag + "error estimate")
        check(s.err_estimate.S == 1 and s.err_estimate.Z == 0, tag + "S set, NTP format")
        check(s.ssid == e["ssid"], tag + "SSID")
        check(s.mbz == 0, tag + "MBZ")
        if e["length"] >= 48:  # RFC 8972 Extra Padding TLV
            check(payload[44:48] == bytes([0, 1]) + (e["length"] - 48).to_bytes(2, "big"),
                  tag + "Extra Padding TLV header")
            check(payload[48:] == bytes(e["length"] - 48), tag + "padding zero")

        r = e["reply"]
        tag = "answer to seq %d: " % e["seq"]
        aip = ans[IPv6] if v6 else ans[IP]
        check(aip.src == e["remote"] and aip.dst == ip.src, tag + "addresses swapped")
        check(ans[UDP].sport == 862 and ans[UDP].dport == e["sport"], tag + "ports swapped")
        check((aip.hlim if v6 else aip.ttl) == 255, tag + "TTL 255")
        check(checksums_ok(ans), tag + "checksums")
        apayload = stamp_payload(ans)
        check(len(apayload) == len(payload), tag + "same length as the probe (symmetric)")
        a = Reflected(apayload[:44])
        check(a.seq == r["reflector_seq"] == 0, tag + "reflector seq (new session: 0)")
        check(a.seq_sender == e["seq"], tag + "sender seq copied")
        check(raw_field(a, "ts_sender") == e["t1"], tag + "sender timestamp copied")
        check(err_tuple(a.err_estimate_sender) == err_from_raw(e["error"]),
              tag + "sender error estimate copied")
        check(a.ttl_sender == 255 == r["sender_ttl"], tag + "sender TTL as received")
        check(a.ssid == e["ssid"] == r["ssid"], tag + "SSID copied")
        check(raw_field(a, "ts_rx") == r["t2"], tag + "receive timestamp: scapy and we agree")
        check(raw_field(a, "ts") == r["t3"], tag + "transmit timestamp: scapy and we agree")
        check(r["t1"] <= r["t2"] <= r["t3"] <= r["t4"], tag + "T1 <= T2 <= T3 <= T4")
        check(err_tuple(a.err_estimate) == err_from_raw(r["reflector_error"]),
              tag + "reflector error estimate")
        check(a.err_estimate.S == 0, tag + "far clock declared unsynchronised")
        check(a.mbz1 == 0 and a.mbz2 == 0, tag + "MBZ")
        check(apayload[44:] == payload[44:], tag + "bytes past 44 echoed")


def scapy_to_ours(tool):
    """stamp_packets reflect: RFC 8762 sender packets made by scapy, answered by our reflector."""
    now = ntp_now()
    err = ErrorEstimate(S=1, Z=0, scale=12, multiplier=7)
    cases = [  # (description, frame, sender TTL, expected reflector seq)
        ("IPv4, 44 bytes",
         Ether(dst=OUR_MAC, src=PEER_MAC) / IP(src=PEER4, dst=OUR4, ttl=61, tos=0xB8) /
         UDP(sport=50000, dport=862) / Sender(seq=41, ts=now, err_estimate=err, ssid=0x1234),
         61, 0),
        ("IPv4, same session again",
         Ether(dst=OUR_MAC, src=PEER_MAC) / IP(src=PEER4, dst=OUR4, ttl=61) /
         UDP(sport=50000, dport=862) / Sender(seq=43, ts=now + 0.2, err_estimate=err, ssid=0x1234),
         61, 1),
        ("IPv4, padded to 100 bytes",
         Ether(dst=OUR_MAC, src=PEER_MAC) / IP(src=PEER4, dst=OUR4, ttl=50) /
         UDP(sport=50002, dport=862) / Sender(seq=7, ts=now, err_estimate=err, ssid=5) /
         Raw(bytes(range(56))),
         50, 0),
        ("IPv6",
         Ether(dst=OUR_MAC, src=PEER_MAC) / IPv6(src=PEER6, dst=OUR6, hlim=60) /
         UDP(sport=50003, dport=862) / Sender(seq=9, ts=now, err_estimate=err, ssid=0),
         60, 0),
        ("PTP timestamps (Z set) are copied untouched",
         Ether(dst=OUR_MAC, src=PEER_MAC) / IP(src=PEER4, dst=OUR4, ttl=64) /
         UDP(sport=50004, dport=862) /
         Sender(seq=1, ts=int(time.time()) + 37, err_estimate=ErrorEstimate(S=1, Z=1), ssid=3),
         64, 0),
    ]
    hostile = [  # must get no answer
        ("43-byte packet",
         Ether(dst=OUR_MAC, src=PEER_MAC) / IP(src=PEER4, dst=OUR4) /
         UDP(sport=50005, dport=862) / Raw(bytes(Sender(seq=1))[:43]), "drop:stamp_truncated"),
        ("source port 862",
         Ether(dst=OUR_MAC, src=PEER_MAC) / IP(src=PEER4, dst=OUR4) /
         UDP(sport=862, dport=862) / Sender(seq=1), "drop:bad_source"),
    ]
    frames = [c[1] for c in cases] + [h[1] for h in hostile]
    with tempfile.TemporaryDirectory() as d:
        inp, out = os.path.join(d, "in.pcap"), os.path.join(d, "out.pcap")
        wrpcap(inp, frames)
        res = subprocess.run([tool, "reflect", inp, out], check=True, capture_output=True,
                             text=True)
        verdicts = [json.loads(line)["verdict"] for line in res.stdout.splitlines()]
        answers = rdpcap(out)
    check(verdicts == ["edge:reply"] * len(cases) + [h[2] for h in hostile],
          "verdicts %s" % verdicts)
    check(len(answers) == len(cases), "one answer per valid packet")
    for (name, frame, ttl, want_seq), ans in zip(cases, answers):
        tag = name + ": "
        v6 = frame.haslayer(IPv6)
        ip, aip = (frame[IPv6], ans[IPv6]) if v6 else (frame[IP], ans[IP])
        check(aip.src == ip.dst and aip.dst == ip.src, tag + "addresses swapped")
        check(ans[Ether].dst == frame[Ether].src and ans[Ether].src == OUR_MAC, tag + "MACs")
        check(ans[UDP].sport == 862 and ans[UDP].dport == frame[UDP].sport, tag + "ports")
        check((aip.hlim if v6 else aip.ttl) == 255, tag + "TTL 255")
        check(checksums_ok(ans), tag + "checksums")
        sent = stamp_payload(frame)
        got = stamp_payload(ans)
        check(len(got) == len(sent), tag + "same length (%d, %d)" % (len(got), len(sent)))
        s = Sender(sent[:44])
        a = Reflected(got[:44])
        check(a.seq == want_seq, tag + "reflector seq %d, want %d" % (a.seq, want_seq))
        check(a.seq_sender == s.seq, tag + "sender seq")
        check(raw_field(a, "ts_sender") == raw_field(s, "ts"), tag + "sender timestamp")
        check(err_tuple(a.err_estimate_sender) == err_tuple(s.err_estimate),
              tag + "sender error estimate")
        check(a.ssid == s.ssid, tag + "SSID")
        check(a.ttl_sender == ttl, tag + "sender TTL %d, want %d" % (a.ttl_sender, ttl))
        check(a.mbz1 == 0 and a.mbz2 == 0, tag + "MBZ")
        t2, t3 = raw_field(a, "ts_rx"), raw_field(a, "ts")
        check(t2 <= t3, tag + "T2 <= T3")
        check(abs(ntp_seconds(t2) - ntp_now()) < 60, tag + "T2 is now (NTP format)")
        check(a.err_estimate.Z == 0 and a.err_estimate.S == 1 and a.err_estimate.multiplier > 0,
              tag + "our error estimate: NTP, synchronised, valid")
        check(got[44:] == sent[44:], tag + "bytes past 44 echoed")


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    tool = sys.argv[1]
    ours_to_scapy(tool)
    scapy_to_ours(tool)
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
