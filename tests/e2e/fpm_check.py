#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
# The questions tests/e2e/fpm_test.sh asks of fpm_dump's files (rib.json, events.jsonl,
# status.json): exit 0 for yes, 1 for no; some print a number (milliseconds).
#   fpm_check.py OUT has|present|absent PREFIX          route PREFIX HOPS TYPE
#   proto PREFIX NAME   latency PREFIX add|del T0_NS   since T0_NS connect | sweep PREFIX
#   snapshot FILE   same FILE   count   connections N   never_deleted PREFIX
#   stats_zero   stats_summary
import json
import shutil
import sys

ERRORS = ("short_header", "frame_too_short", "frame_truncated", "bad_version", "bad_type",
          "nl_zero_length", "nl_truncated", "rtmsg_truncated", "bad_family", "bad_prefix_len",
          "attr_overflow", "attr_bad_size", "multipath_bad_len", "nexthop_id_route")


def load(out, name):
    try:
        with open(f"{out}/{name}") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def rib(out):
    return {r["prefix"]: r for r in (load(out, "rib.json") or [])}


def events(out):
    try:
        with open(f"{out}/events.jsonl") as f:
            return [json.loads(line) for line in f if line.strip()]
    except OSError:
        return []


def strip(r):
    return {k: v for k, v in r.items() if k != "learnt_ns"}


def main(out, cmd, *a):
    routes = rib(out)
    status = load(out, "status.json") or {}
    if cmd in ("has", "present"):
        return a[0] in routes
    if cmd == "absent":
        return a[0] not in routes and load(out, "rib.json") is not None
    if cmd == "route":
        r = routes.get(a[0])
        return r is not None and len(r["next_hops"]) == int(a[1]) and r["type"] == a[2]
    if cmd == "proto":
        return a[0] in routes and routes[a[0]]["protocol"] == a[1]
    if cmd == "latency":
        prefix, kind, t0 = a[0], a[1], int(a[2])
        want = strip(routes[prefix]) if kind == "add" and prefix in routes else None
        hits = [e for e in events(out) if e["t_ns"] >= t0 and e["event"] == kind
                and e["route"]["prefix"] == prefix and (want is None or e["route"] == want)]
        if not hits:
            return False
        print(f"{(hits[0]['t_ns'] - t0) / 1e6:.1f}")
        return True
    if cmd == "since":
        t0 = int(a[0])
        if a[1] == "connect":
            ts = [t for t in status.get("connect_ns", []) if t >= t0]
        else:
            ts = [e["t_ns"] for e in events(out) if e["t_ns"] >= t0 and e["event"] == "del"
                  and e["route"]["prefix"] == a[2]]
        if not ts:
            return False
        print(f"{(ts[0] - t0) / 1e6:.0f}")
        return True
    if cmd == "snapshot":
        shutil.copy(f"{out}/rib.json", a[0])
        return True
    if cmd == "same":
        with open(a[0]) as f:
            before = {r["prefix"]: strip(r) for r in json.load(f)}
        return before == {p: strip(r) for p, r in routes.items()}
    if cmd == "count":
        print(len(routes))
        return True
    if cmd == "connections":
        return status.get("connections", 0) >= int(a[0])
    if cmd == "never_deleted":
        return not any(e["event"] == "del" and e["route"]["prefix"] == a[0] for e in events(out))
    if cmd == "stats_zero":
        c = status.get("counters", {})
        bad = {k: c.get(k) for k in ERRORS if c.get(k)}
        if bad:
            print(bad)
        return not bad and status.get("fatal_closes", 0) == 0
    if cmd == "stats_summary":
        c = status.get("counters", {})
        print(", ".join(f"{k} {c.get(k, 0)}" for k in
                        ("frames", "routes_added", "routes_deleted", "nl_ignored_type",
                         "attr_unknown")) +
              f", connections {status.get('connections')}, refreshes {status.get('refreshes')}"
              f", stale_removed {status.get('stale_removed')}")
        return True
    raise SystemExit(f"fpm_check: unknown question {cmd}")


if __name__ == "__main__":
    sys.exit(0 if main(*sys.argv[1:]) else 1)
