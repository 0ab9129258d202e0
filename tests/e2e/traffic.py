#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Counted UDP and checksummed TCP traffic for the Traboule lab (python3 standard library only).

Each subcommand runs inside one network namespace (`ip netns exec NS traffic.py ...`) and prints
one JSON object on stdout, so the shell tests can assert on exact numbers:

  udp-recv  --bind ADDR --port P --count N [--echo] [--ready FILE]
            counts distinct sequence numbers, duplicates and foreign datagrams; with --echo it
            sends every datagram back, so the reply direction is exercised too.
  udp-send  --to ADDR --port P --count N --rate PPS [--bind ADDR] [--echo]
            sends N numbered datagrams paced at PPS; with --echo counts the echoes as they come.
  tcp-recv  --bind ADDR --port P [--ready FILE]
            accepts one connection, reads a length-prefixed stream, answers with its byte count
            and SHA-256 on the same connection.
  tcp-send  --to ADDR --port P --bytes N [--bind ADDR]
            sends N deterministic pseudo-random bytes and checks the receiver's count and digest.
  offloads  IFACE...
            turns off checksum/segmentation/GRO offloads through the ethtool ioctl (no ethtool
            binary needed): DPDK's af_packet PMD reads frames as the kernel hands them over, and a
            64 KB TSO frame or a partial checksum would not survive the trip through it.

Every wait is bounded (--timeout); exit status is 0 only when the exchange is complete and exact.
"""

import argparse
import fcntl
import hashlib
import json
import os
import random
import select
import socket
import struct
import sys
import time

UDP_MAGIC = b"TBUD"
UDP_HEADER = struct.Struct("!4sIII")  # magic, run nonce, sequence number, total count
# Right after the header when the payload has room: the send time (CLOCK_REALTIME, ns). The
# lab's namespaces share one clock, so the receiver reads exact one-way delays.
SEND_TIME = struct.Struct("!Q")
TCP_HEADER = struct.Struct("!Q")  # payload length, so the receiver knows when it has it all


def family_of(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def emit(result, ok):
    result["ok"] = bool(ok)
    print(json.dumps(result, sort_keys=True), flush=True)
    return 0 if ok else 1


def signal_ready(path):
    # Written only after bind()/listen(), so the shell can start the sender without racing us.
    if path:
        with open(path + ".tmp", "w") as f:
            f.write(str(os.getpid()))
        os.replace(path + ".tmp", path)


# --- UDP ------------------------------------------------------------------------------------------


class Seen:
    """Which of `count` sequence numbers arrived: once (unique), again (dups), or out of range."""

    def __init__(self, count):
        self.bits = bytearray(count)
        self.unique = self.dups = self.out_of_range = 0

    def add(self, seq):
        if seq >= len(self.bits):
            self.out_of_range += 1
        elif self.bits[seq]:
            self.dups += 1
        else:
            self.bits[seq] = 1
            self.unique += 1

    def missing(self):
        return [i for i, b in enumerate(self.bits) if not b]


def udp_recv(a):
    s = socket.socket(family_of(a.bind), socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.bind((a.bind, a.port))
    signal_ready(a.ready)
    seen = Seen(a.count)
    foreign = echoed = 0
    nonce = None
    peer = None
    start = time.monotonic()
    first = last = None
    complete_at = None
    max_gap = 0.0  # longest time without a new datagram between the first and the last
    owd_ms = []
    while True:
        now = time.monotonic()
        if now - start > a.timeout:
            break
        if complete_at is not None and now - complete_at > a.grace:
            break  # all arrived; the grace period only catches late duplicates
        if last is not None and now - last > a.idle and complete_at is None:
            break
        r, _, _ = select.select([s], [], [], 0.05)
        if not r:
            continue
        data, src = s.recvfrom(65535)
        now = time.monotonic()
        if len(data) < UDP_HEADER.size:
            foreign += 1
            continue
        magic, run, seq, total = UDP_HEADER.unpack_from(data)
        if magic != UDP_MAGIC or total != a.count or (nonce is not None and run != nonce):
            foreign += 1
            continue
        nonce = run
        peer = src
        first = first if first is not None else now
        if last is not None:
            max_gap = max(max_gap, now - last)
        last = now
        if len(data) >= UDP_HEADER.size + SEND_TIME.size:
            (sent_ns,) = SEND_TIME.unpack_from(data, UDP_HEADER.size)
            if sent_ns:
                owd_ms.append((time.time_ns() - sent_ns) / 1e6)
        seen.add(seq)
        if complete_at is None and seen.unique == a.count:
            complete_at = now
        if a.echo:
            s.sendto(data, src)
            echoed += 1
    missing = seen.missing()
    res = {
        "role": "udp-recv", "expected": a.count, "unique": seen.unique, "duplicates": seen.dups,
        "foreign": foreign, "out_of_range": seen.out_of_range, "echoed": echoed,
        "missing": len(missing), "first_missing": missing[:10],
        "peer": peer[0] if peer else None,
        "seconds": round((last - first) if first is not None else 0.0, 3),
        "max_gap_ms": round(max_gap * 1000, 1),
    }
    if owd_ms:
        owd_ms.sort()
        pick = lambda q: round(owd_ms[min(len(owd_ms) - 1, int(q * len(owd_ms)))], 3)
        res["owd_ms"] = {"n": len(owd_ms), "min": round(owd_ms[0], 3), "p50": pick(0.5),
                         "p99": pick(0.99), "max": round(owd_ms[-1], 3)}
    return emit(res, seen.unique == a.count and seen.dups == 0 and seen.out_of_range == 0)


def udp_send(a):
    s = socket.socket(family_of(a.to), socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    if a.bind:
        s.bind((a.bind, 0))
    s.connect((a.to, a.port))
    s.setblocking(False)
    nonce = random.getrandbits(32)
    stamp = a.size >= UDP_HEADER.size + SEND_TIME.size
    pad = bytes(max(0, a.size - UDP_HEADER.size - (SEND_TIME.size if stamp else 0)))
    if a.tos:
        s.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, a.tos)
    echoes = Seen(a.count)
    echo_foreign = send_errors = 0
    start = time.monotonic()
    deadline = start + a.timeout

    def drain():
        nonlocal echo_foreign
        while True:
            try:
                data = s.recv(65535)
            except (BlockingIOError, InterruptedError):
                return
            except ConnectionRefusedError:
                continue  # an ICMP unreachable before the receiver was up: counted as loss
            if len(data) < UDP_HEADER.size:
                echo_foreign += 1
                continue
            magic, run, seq, total = UDP_HEADER.unpack_from(data)
            if magic != UDP_MAGIC or run != nonce or total != a.count or seq >= a.count:
                echo_foreign += 1
            else:
                echoes.add(seq)

    for seq in range(a.count):
        due = start + seq / a.rate
        while True:  # pace, and read echoes while we wait
            now = time.monotonic()
            if now >= due or now > deadline:
                break
            select.select([s], [], [], min(due - now, 0.01))
            drain()
        try:
            head = UDP_HEADER.pack(UDP_MAGIC, nonce, seq, a.count)
            if stamp:
                head += SEND_TIME.pack(time.time_ns())
            s.send(head + pad)
        except (BlockingIOError, ConnectionRefusedError, OSError):
            send_errors += 1
    sent_s = time.monotonic() - start
    if a.echo:
        end = min(deadline, time.monotonic() + a.echo_wait)
        while echoes.unique < a.count and time.monotonic() < end:
            select.select([s], [], [], 0.05)
            drain()
        time.sleep(a.grace)  # catch late duplicate echoes
        drain()
    res = {
        "role": "udp-send", "sent": a.count - send_errors, "send_errors": send_errors,
        "rate_pps": a.rate, "size": a.size, "seconds": round(sent_s, 3),
    }
    ok = send_errors == 0
    if a.echo:
        res.update({"echo_unique": echoes.unique, "echo_duplicates": echoes.dups,
                    "echo_foreign": echo_foreign, "echo_missing": a.count - echoes.unique})
        ok = ok and echoes.unique == a.count and echoes.dups == 0
    return emit(res, ok)


# --- TCP ------------------------------------------------------------------------------------------


def payload_chunks(total, seed, chunk=65536):
    # Deterministic and incompressible: a broken forwarder cannot pass by accident with zeros.
    rng = random.Random(seed)
    left = total
    while left > 0:
        n = min(chunk, left)
        yield rng.randbytes(n)
        left -= n


def recv_exact(conn, n):
    buf = b""
    while len(buf) < n:
        part = conn.recv(n - len(buf))
        if not part:
            break
        buf += part
    return buf


def tcp_recv(a):
    ls = socket.socket(family_of(a.bind), socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((a.bind, a.port))
    ls.listen(1)
    ls.settimeout(a.timeout)
    signal_ready(a.ready)
    try:
        conn, peer = ls.accept()
    except socket.timeout:
        return emit({"role": "tcp-recv", "error": "no connection within %ss" % a.timeout}, False)
    conn.settimeout(a.timeout)
    start = time.monotonic()
    h = hashlib.sha256()
    got = 0
    expected = None
    err = None
    try:
        hdr = recv_exact(conn, TCP_HEADER.size)
        if len(hdr) == TCP_HEADER.size:
            (expected,) = TCP_HEADER.unpack(hdr)
            while got < expected:
                part = conn.recv(min(1 << 20, expected - got))
                if not part:
                    break
                h.update(part)
                got += len(part)
        reply = json.dumps({"bytes": got, "sha256": h.hexdigest()}).encode() + b"\n"
        conn.sendall(reply)
        conn.shutdown(socket.SHUT_WR)
    except OSError as e:
        err = str(e)
    secs = time.monotonic() - start
    conn.close()
    res = {"role": "tcp-recv", "peer": peer[0], "expected": expected, "bytes": got,
           "sha256": h.hexdigest(), "seconds": round(secs, 3),
           "mbit_s": round(got * 8 / secs / 1e6, 1) if secs > 0 else None}
    if err:
        res["error"] = err
    return emit(res, err is None and expected is not None and got == expected)


def tcp_send(a):
    s = socket.socket(family_of(a.to), socket.SOCK_STREAM)
    s.settimeout(a.timeout)
    if a.bind:
        s.bind((a.bind, 0))
    res = {"role": "tcp-send", "bytes": a.bytes, "port": a.port}
    h = hashlib.sha256()
    start = time.monotonic()
    try:
        s.connect((a.to, a.port))
        s.sendall(TCP_HEADER.pack(a.bytes))
        for chunk in payload_chunks(a.bytes, a.seed):
            h.update(chunk)
            s.sendall(chunk)
        s.shutdown(socket.SHUT_WR)
        reply = b""
        while not reply.endswith(b"\n"):
            part = s.recv(4096)
            if not part:
                break
            reply += part
        peer = json.loads(reply.decode() or "{}")
    except (OSError, ValueError) as e:
        res.update({"sha256": h.hexdigest(), "error": str(e)})
        return emit(res, False)
    finally:
        s.close()
    secs = time.monotonic() - start
    res.update({"sha256": h.hexdigest(), "peer_bytes": peer.get("bytes"),
                "peer_sha256": peer.get("sha256"), "seconds": round(secs, 3),
                "mbit_s": round(a.bytes * 8 / secs / 1e6, 1) if secs > 0 else None})
    return emit(res, peer.get("bytes") == a.bytes and peer.get("sha256") == h.hexdigest())


# --- offloads -------------------------------------------------------------------------------------

SIOCETHTOOL = 0x8946
# Legacy ethtool "set one feature" commands (include/uapi/linux/ethtool.h); still served by
# kernel 6.x. Turning off TX checksumming also drops TSO, which depends on it.
ETHTOOL_SET = {"tx-checksum": 0x17, "scatter-gather": 0x19, "tso": 0x1F, "gso": 0x24, "gro": 0x2C}
ETHTOOL_GET = {"tx-checksum": 0x16, "scatter-gather": 0x18, "tso": 0x1E, "gso": 0x23, "gro": 0x2B}


def ethtool_value(sock, ifname, cmd, data=0):
    # struct ifreq { char name[16]; void *data; } pointing at struct ethtool_value { u32 cmd, data; }
    import array
    buf = array.array("B", struct.pack("II", cmd, data))
    addr, _ = buf.buffer_info()
    ifr = struct.pack("16sP16x", ifname.encode(), addr)  # sizeof(struct ifreq) is 40
    fcntl.ioctl(sock.fileno(), SIOCETHTOOL, ifr)
    return struct.unpack("II", buf.tobytes())[1]


def offloads(a):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    report = {}
    ok = True
    for ifname in a.ifaces:
        feats = {}
        for name in ("gro", "gso", "tso", "tx-checksum"):
            try:
                ethtool_value(s, ifname, ETHTOOL_SET[name], 0)
            except OSError as e:
                feats[name] = "error: %s" % e
                ok = False
                continue
            feats[name] = "on" if ethtool_value(s, ifname, ETHTOOL_GET[name]) else "off"
            ok = ok and feats[name] == "off"
        report[ifname] = feats
    return emit({"role": "offloads", "ifaces": report}, ok)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)

    r = sub.add_parser("udp-recv")
    r.add_argument("--bind", required=True)
    r.add_argument("--port", type=int, required=True)
    r.add_argument("--count", type=int, required=True)
    r.add_argument("--echo", action="store_true")
    r.add_argument("--ready")
    r.add_argument("--timeout", type=float, default=30.0, help="overall limit (s)")
    r.add_argument("--idle", type=float, default=3.0, help="give up this long after the last datagram (s)")
    r.add_argument("--grace", type=float, default=0.5, help="keep counting duplicates this long (s)")
    r.set_defaults(fn=udp_recv)

    s = sub.add_parser("udp-send")
    s.add_argument("--to", required=True)
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--count", type=int, required=True)
    s.add_argument("--rate", type=float, default=1000.0, help="datagrams per second")
    s.add_argument("--size", type=int, default=200, help="UDP payload bytes")
    s.add_argument("--bind")
    s.add_argument("--echo", action="store_true", help="expect every datagram back once")
    s.add_argument("--echo-wait", type=float, default=3.0)
    s.add_argument("--grace", type=float, default=0.5)
    s.add_argument("--timeout", type=float, default=30.0)
    s.add_argument("--tos", type=int, default=0, help="IPv4 TOS byte (184: DSCP EF)")
    s.set_defaults(fn=udp_send)

    r = sub.add_parser("tcp-recv")
    r.add_argument("--bind", required=True)
    r.add_argument("--port", type=int, required=True)
    r.add_argument("--ready")
    r.add_argument("--timeout", type=float, default=30.0)
    r.set_defaults(fn=tcp_recv)

    s = sub.add_parser("tcp-send")
    s.add_argument("--to", required=True)
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--bytes", type=int, default=4 << 20)
    s.add_argument("--seed", type=int, default=5201)
    s.add_argument("--bind")
    s.add_argument("--timeout", type=float, default=30.0)
    s.set_defaults(fn=tcp_send)

    o = sub.add_parser("offloads")
    o.add_argument("ifaces", nargs="+")
    o.set_defaults(fn=offloads)

    a = p.parse_args()
    sys.exit(a.fn(a))


if __name__ == "__main__":
    main()
