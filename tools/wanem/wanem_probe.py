#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""UDP timestamping probe for measuring a wanem link (delay, jitter, order, loss, rate).

  wanem_probe.py send --dst IP --port P --count N --pps R [--size BYTES]
  wanem_probe.py recv --port P --expect N [--idle S] [--max-time S] [--target-ms D --tol-ms T]

Each datagram carries its sequence number and the sender's CLOCK_REALTIME just before
sendto(); the receiver takes the kernel's receive timestamp (SO_TIMESTAMPNS), so the one-way
delay is measured on one host clock without the receiver's wake-up latency. Both ends run on
the same machine (in different network namespaces), so the clocks are the same clock.
The receiver prints one JSON object: counts, order, one-way delay statistics, and the rate of
Ethernet frame bytes over the arrival span (UDP payload + 42 bytes of Ethernet/IPv4/UDP).
"""
import argparse
import json
import math
import socket
import struct
import sys
import time

HEADER = struct.Struct("!QQ")  # sequence, sender CLOCK_REALTIME ns
FRAME_OVERHEAD = 14 + 20 + 8  # Ethernet + IPv4 + UDP headers, no FCS/preamble
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
SO_RXQ_OVFL = getattr(socket, "SO_RXQ_OVFL", 40)
SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)


def positive_int(text):
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0 (got {text})")
    return value


def send(args):
    if args.size < HEADER.size:
        sys.exit(f"wanem_probe: --size must be at least {HEADER.size} (got {args.size})")
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    pad = bytes(args.size - HEADER.size)
    interval = 1.0 / args.pps
    start = time.monotonic()
    errors = 0
    # Stalls of the sender itself (a busy machine can stop it for milliseconds): a stall longer
    # than a queue's drain time leaves a rate-limited link idle, so rate checks must know.
    last = None
    max_gap = 0.0
    stalls = 0
    for seq in range(args.count):
        due = start + seq * interval
        while True:
            ahead = due - time.monotonic()
            if ahead <= 0:
                break
            # Sleep most of the way, then poll: time.sleep alone overshoots by ~0.1 ms.
            time.sleep(ahead - 0.0002 if ahead > 0.0003 else 0)
        now = time.monotonic()
        if last is not None:
            gap = now - last
            max_gap = max(max_gap, gap)
            stalls += gap > interval + 0.005
        last = now
        payload = HEADER.pack(seq, time.clock_gettime_ns(time.CLOCK_REALTIME)) + pad
        try:
            sock.sendto(payload, (args.dst, args.port))
        except OSError:
            errors += 1
    elapsed = time.monotonic() - start
    print(json.dumps({"sent": args.count, "send_errors": errors, "elapsed_s": elapsed,
                      "pps": args.count / elapsed if elapsed > 0 else 0,
                      "max_gap_ms": max_gap * 1000, "stalls_over_5ms": stalls}))


def percentile(sorted_values, p):
    if not sorted_values:
        return None
    k = min(len(sorted_values) - 1, max(0, int(math.ceil(p / 100.0 * len(sorted_values))) - 1))
    return sorted_values[k]


def recv(args):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    sock.setsockopt(socket.SOL_SOCKET, SO_RXQ_OVFL, 1)
    try:  # root may exceed net.core.rmem_max: a flood must not overflow the socket
        sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 32 << 20)
    except OSError:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 << 20)
    sock.bind(("0.0.0.0", args.port))
    if args.ready_file:
        with open(args.ready_file, "w") as f:
            f.write("ready\n")
    seen = set()
    duplicates = reordered = malformed = 0
    max_seq = -1
    owd_ms = []
    first_rx = last_rx = None
    frame_bytes = 0
    socket_drops = 0
    started = time.monotonic()
    sock.settimeout(args.first_timeout)
    while time.monotonic() - started < args.max_time:
        try:
            data, ancdata, _flags, _addr = sock.recvmsg(
                65535, socket.CMSG_SPACE(16) + socket.CMSG_SPACE(4))
        except socket.timeout:
            break
        rx_ns = None
        for level, kind, cdata in ancdata:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(cdata) >= 16:
                sec, nsec = struct.unpack("qq", cdata[:16])
                rx_ns = sec * 1_000_000_000 + nsec
            elif level == socket.SOL_SOCKET and kind == SO_RXQ_OVFL and len(cdata) >= 4:
                socket_drops = struct.unpack("I", cdata[:4])[0]  # cumulative
        if rx_ns is None:
            rx_ns = time.clock_gettime_ns(time.CLOCK_REALTIME)
        if len(data) < HEADER.size:
            malformed += 1
            continue
        seq, tx_ns = HEADER.unpack_from(data)
        sock.settimeout(args.idle)
        if seq in seen:
            duplicates += 1
            continue
        seen.add(seq)
        if seq < max_seq:
            reordered += 1
        max_seq = max(max_seq, seq)
        owd_ms.append((rx_ns - tx_ns) / 1e6)
        if first_rx is None:
            first_rx = rx_ns
        last_rx = rx_ns
        frame_bytes += len(data) + FRAME_OVERHEAD
        if args.expect and len(seen) >= args.expect and not args.wait_idle:
            break

    owd_sorted = sorted(owd_ms)
    n = len(owd_ms)
    mean = sum(owd_ms) / n if n else None
    sd = math.sqrt(sum((x - mean) ** 2 for x in owd_ms) / (n - 1)) if n > 1 else None
    result = {
        "received": n,
        "expected": args.expect,
        "lost": (args.expect - n) if args.expect else None,
        "duplicates": duplicates,
        "reordered": reordered,
        "malformed": malformed,
        "socket_drops": socket_drops,
        "owd_ms": {
            "min": owd_sorted[0] if n else None,
            "p50": percentile(owd_sorted, 50),
            "mean": mean,
            "sd": sd,
            "p99": percentile(owd_sorted, 99),
            "max": owd_sorted[-1] if n else None,
        },
    }
    if args.target_ms is not None and n:
        within = sum(1 for x in owd_ms if abs(x - args.target_ms) <= args.tol_ms)
        result["within_tol"] = within / n
        result["max_abs_error_ms"] = max(abs(x - args.target_ms) for x in owd_ms)
    if n > 1 and last_rx > first_rx:
        span_s = (last_rx - first_rx) / 1e9
        # The first frame opens the span: count the bytes of the n-1 frames after it.
        per_frame = frame_bytes / n
        result["rate_bps"] = (n - 1) * per_frame * 8 / span_s
        result["span_s"] = span_s
    print(json.dumps(result))


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="mode", required=True)
    s = sub.add_parser("send")
    s.add_argument("--dst", required=True)
    s.add_argument("--port", type=positive_int, required=True)
    s.add_argument("--count", type=positive_int, required=True)
    s.add_argument("--pps", type=positive_int, required=True)
    s.add_argument("--size", type=positive_int, default=64, help="UDP payload bytes")
    r = sub.add_parser("recv")
    r.add_argument("--port", type=positive_int, required=True)
    r.add_argument("--expect", type=int, default=0, help="datagrams the sender sends")
    r.add_argument("--wait-idle", action="store_true",
                   help="keep reading until idle even after --expect (to count duplicates)")
    r.add_argument("--idle", type=float, default=2.0, help="stop after this long without data")
    r.add_argument("--first-timeout", type=float, default=30.0,
                   help="give up if nothing arrives for this long at the start")
    r.add_argument("--max-time", type=float, default=300.0)
    r.add_argument("--target-ms", type=float)
    r.add_argument("--tol-ms", type=float, default=0.5)
    r.add_argument("--ready-file", help="written once the socket is bound")
    args = parser.parse_args()
    send(args) if args.mode == "send" else recv(args)


if __name__ == "__main__":
    main()
