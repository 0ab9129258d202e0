#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Decrypts ESP-in-UDP packets written by tests/unit/dp_esp_test.cc with scapy's own ESP code
(scapy.layers.ipsec, python3-cryptography): an implementation nobody here wrote.

  esp_scapy_check.py CAPTURE EXPECTED

CAPTURE: pcap of Ethernet/IPv4/UDP/ESP frames. EXPECTED: one line per frame,
  "SPI ESN_HIGH KEY_HEX SALT_HEX NEXT_HEADER PAYLOAD_HEX|tampered"
For each frame, scapy must recover exactly PAYLOAD with that next header, or, for a line marked
"tampered", refuse it (IPSecIntegrityError). Exit 0 when every frame behaves, 1 otherwise.
"""
import sys

from scapy.layers.inet import UDP
from scapy.layers.ipsec import ESP, IPSecIntegrityError, SecurityAssociation
from scapy.utils import rdpcap


def check(frame, line):
    spi, esn_high, key, salt, nh, want = line.split()
    sa = SecurityAssociation(ESP, spi=int(spi, 0), crypt_algo="AES-GCM",
                             crypt_key=bytes.fromhex(key) + bytes.fromhex(salt),
                             esn_en=True, esn=int(esn_high, 0))
    esp = ESP(bytes(frame[UDP].payload))
    if esp.spi != int(spi, 0):
        return "SPI %#x on the wire, %s expected" % (esp.spi, spi)
    try:
        plain = sa.crypt_algo.decrypt(sa, esp, sa.crypt_key, 16, esn_en=True,
                                      esn=int(esn_high, 0))
    except IPSecIntegrityError:
        return None if want == "tampered" else "scapy refused the tag"
    if want == "tampered":
        return "scapy accepted a tampered packet"
    if plain.nh != int(nh):
        return "next header %d, %s expected" % (plain.nh, nh)
    if bytes(plain.data) != bytes.fromhex(want):
        return "payload differs"
    return None


def main():
    frames = rdpcap(sys.argv[1])
    with open(sys.argv[2], encoding="ascii") as f:
        lines = [line for line in f.read().splitlines() if line.strip()]
    if len(frames) != len(lines) or not frames:
        print("FAIL: %d frames, %d expectations" % (len(frames), len(lines)))
        return 1
    bad = 0
    for i, (frame, line) in enumerate(zip(frames, lines)):
        why = check(frame, line)
        if why:
            print("FAIL frame %d: %s" % (i, why))
            bad += 1
    print("%d frames checked by scapy, %d failed" % (len(frames), bad))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
