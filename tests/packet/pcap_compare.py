#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Compares two pcap files packet by packet (bytes only, timestamps ignored).

Exit 0 when equal; otherwise prints the first difference as hex and exits 1.
Standard library only: the test machine has no scapy."""
import struct
import sys


def read_pcap(path):
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 24:
        raise SystemExit(f"{path}: not a pcap file ({len(data)} bytes)")
    magic = struct.unpack_from("<I", data, 0)[0]
    if magic in (0xA1B2C3D4, 0xA1B23C4D):
        endian = "<"
    elif magic in (0xD4C3B2A1, 0x4D3CB2A1):
        endian = ">"
    else:
        raise SystemExit(f"{path}: bad pcap magic {magic:#x}")
    off, packets = 24, []
    while off + 16 <= len(data):
        _, _, caplen, _ = struct.unpack_from(endian + "IIII", data, off)
        off += 16
        packets.append(data[off:off + caplen])
        off += caplen
    return packets


def main():
    if len(sys.argv) != 3:
        raise SystemExit("usage: pcap_compare.py ACTUAL EXPECTED")
    actual, expected = read_pcap(sys.argv[1]), read_pcap(sys.argv[2])
    for i, (a, e) in enumerate(zip(actual, expected)):
        if a != e:
            print(f"packet {i + 1} differs ({len(a)} bytes vs {len(e)} expected)")
            print("  actual:  ", a.hex(" "))
            print("  expected:", e.hex(" "))
            return 1
    if len(actual) != len(expected):
        print(f"{len(actual)} packets, expected {len(expected)}")
        return 1
    print(f"{len(actual)} packets identical")
    return 0


if __name__ == "__main__":
    sys.exit(main())
