#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""tools/lab status: everything the lab runs, gathered (JSON with argv[1] == "1", else text).

Run by lab_status() in tools/lib/lab.sh, which passes the lab's state in LAB_* variables."""
import json, os, subprocess, sys, time

as_json = sys.argv[1] == "1"
E = os.environ
name, lab_dir, prefix = E["LAB_NAME"], E["LAB_DIR"], E["LAB_NS_PREFIX"]
hosts, uplinks = E["LAB_HOSTS"].split(), E["LAB_UPLINKS"].split()
state = E["LAB_STATUS_STATE"]
problems = []

def run(cmd, stdin=None, timeout=10):
    try:
        r = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=timeout)
        return r.returncode, r.stdout, r.stderr
    except (OSError, subprocess.TimeoutExpired) as e:
        return 1, "", str(e)

def ns_inode(ns):
    try:
        return os.stat("/run/netns/" + ns).st_ino
    except OSError:
        return None

def proc(pidname, ns):
    """A process the lab started: pid, running (alive and in the lab's namespace), log."""
    out = {"pid": None, "running": False, "log": os.path.join(lab_dir, "logs", pidname + ".log")}
    try:
        pid = int(open(os.path.join(lab_dir, "pids", pidname + ".pid")).read().strip())
    except (OSError, ValueError):
        return out
    out["pid"] = pid
    try:
        out["running"] = os.stat("/proc/%d/ns/net" % pid).st_ino == ns_inode(ns)
    except OSError:
        pass
    return out

def kernel_addrs(ns):
    rc, out, _ = run(["ip", "-j", "-n", ns, "addr", "show"])
    res = {}
    if rc != 0:
        return res
    for link in json.loads(out or "[]"):
        addrs = [a["local"] + "/" + str(a["prefixlen"]) for a in link.get("addr_info", [])
                 if a.get("scope") == "global"]
        if addrs:
            res[link["ifname"]] = addrs
    return res

def kernel_routes(ns):
    res = []
    for fam in ("-4", "-6"):
        rc, out, _ = run(["ip", "-j", fam, "-n", ns, "route", "show", "default"])
        if rc == 0:
            res += [r["gateway"] for r in json.loads(out or "[]") if "gateway" in r]
    return res

def daemon_addrs(d):
    try:
        cfg = json.load(open(os.path.join(lab_dir, d, "trabouled.json")))
    except (OSError, ValueError):
        return {}
    res = {}
    ports = [("lan", cfg.get("lan", {}))] + [(u["name"], u) for u in cfg.get("uplinks", [])]
    for pname, p in ports:
        one = [p[k] for k in ("ipv4", "ipv6") if k in p]
        gws = [p[k] for k in ("gateway4", "gateway6") if k in p]
        res[pname] = {"addresses": one, "device": p.get("device"), "gateways": gws}
    return res

def telemetry(ns, cmd):
    rc, out, _ = run(["dpdk-telemetry.py", "-f", ns], stdin=cmd + "\n")
    if rc != 0 or not out.startswith("{"):
        return None
    try:
        return json.loads(out.splitlines()[0]).get(cmd)
    except ValueError:
        return None

report = {"lab": name, "state": state, "state_dir": lab_dir}
if E.get("LAB_BUILD"):
    report["build"] = E["LAB_BUILD"]
if E.get("LAB_CREATED"):
    report["created"] = time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(int(E["LAB_CREATED"])))
if E.get("LAB_UP_SECONDS"):
    report["up_seconds"] = float(E["LAB_UP_SECONDS"])
if E.get("LAB_PROFILES"):
    report["impairment_at_start"] = "profiles" if E["LAB_PROFILES"] == "1" else "clean"

if state == "down":
    print(json.dumps(report, indent=2) if as_json else "lab '%s' is down" % name)
    sys.exit(3)

api_port = E["LAB_API_PORT"]
host_report = {}
for h in hosts:
    ns = prefix + h
    one = {"namespace": ns, "present": ns_inode(ns) is not None}
    if not one["present"]:
        problems.append("namespace %s is missing" % ns)
    if h in ("edge", "hub"):
        one["kind"] = "trabouled"
        one["role"] = h
        one["interfaces"] = daemon_addrs(h)
        p = proc(h, ns)
        one.update({"pid": p["pid"], "running": p["running"], "log": p["log"]})
        one["api"] = "https://127.0.0.1:%s/api/v1" % api_port
        one["api_reachable_from"] = "its namespace only: tools/lab exec %s traboulectl ..." % h
        one["ca"] = os.path.join(lab_dir, h, "api.crt")
        one["telemetry_prefix"] = ns
        one["config"] = os.path.join(lab_dir, h, "trabouled.json")
        if p["running"]:
            one["uplinks"] = telemetry(ns, "/traboule/uplinks")
        elif one["present"]:
            problems.append("trabouled (%s) is not running; see %s" % (h, p["log"]))
    elif h.startswith("wanem-"):
        one["kind"] = "wanem"
        one["link"] = h[len("wanem-"):]
    elif h == "sw":
        one["kind"] = "switch"
        rc, out, _ = run(["ip", "-j", "-n", ns, "link", "show", "master", "br0"])
        one["bridge"] = "br0"
        one["ports"] = [l["ifname"] for l in json.loads(out or "[]")] if rc == 0 else []
    elif h == "core":
        one["kind"] = "router"
        one["interfaces"] = kernel_addrs(ns) if one["present"] else {}
    else:
        one["kind"] = "host"
        one["interfaces"] = kernel_addrs(ns) if one["present"] else {}
        one["gateways"] = kernel_routes(ns) if one["present"] else []
        if h in ("inet", "dc1"):
            p = proc(h + "-http", ns)
            one["web"] = {"pid": p["pid"], "running": p["running"], "http": 80}
            if h == "inet":
                one["web"]["https"] = 443
                one["web"]["cert"] = os.path.join(lab_dir, "inet", "https.crt")
            if one["present"] and not p["running"]:
                problems.append("the web server of %s is not running" % h)
    host_report[h] = one
report["hosts"] = host_report

link_report = {}
for u in uplinks:
    ns = prefix + "wanem-" + u
    p = proc("wanem-" + u, ns)
    sock = os.path.join(lab_dir, "wanem-%s.sock" % u)
    one = {"namespace": ns, "wanem_pid": p["pid"], "running": p["running"], "ctl": sock, "log": p["log"]}
    if p["running"] and E.get("LAB_WANEM"):
        rc, out, err = run([E["LAB_WANEM"], "ctl", "--ctl", sock, "--timeout-ms", "2000", "show", "--json"])
        try:
            show = json.loads(out) if rc == 0 else None
        except ValueError:
            show = None
        if show:
            up = show["a2b"]["params"]["state"], show["b2a"]["params"]["state"]
            one["state"] = "up" if up == ("up", "up") else "down" if up == ("down", "down") else \
                "upload %s, download %s" % up
            one["upload"] = show["a2b"]["params"]["text"]
            one["download"] = show["b2a"]["params"]["text"]
            one["wanem"] = show
        else:
            one["state"] = "unknown"
            problems.append("wanem of %s does not answer: %s" % (u, (err or out).strip()))
    else:
        one["state"] = "unknown"
        problems.append("wanem of %s is not running; see %s" % (u, p["log"]))
    link_report[u] = one
report["links"] = link_report
if problems and state == "up":
    report["state"] = state = "degraded"
report["problems"] = problems

if as_json:
    print(json.dumps(report, indent=2))
else:
    line = "lab '%s': %s" % (name, state)
    if "created" in report:
        line += ", created %s" % report["created"]
    if "up_seconds" in report:
        line += " (up took %.1f s)" % report["up_seconds"]
    print(line)
    print("  state %s, build %s" % (lab_dir, report.get("build", "?")))
    print("hosts")
    for h, one in host_report.items():
        if one["kind"] == "trabouled":
            print("  %-12s trabouled %s, pid %s %s, API %s, telemetry -f %s" % (
                h, one["role"], one["pid"], "running" if one["running"] else "NOT RUNNING",
                one["api"], one["telemetry_prefix"]))
            for pname, p in one["interfaces"].items():
                extra = ""
                t = (one.get("uplinks") or {}).get(pname.replace("-", "_"))
                if t:
                    extra = "  [link %s, gateway %s, tx %s rx %s pkts]" % (
                        t.get("link"), t.get("gateway"), t.get("tx_packets"), t.get("rx_packets"))
                gw = (" via " + " ".join(p["gateways"])) if p["gateways"] else ""
                print("  %-12s   %-6s %s%s%s" % ("", pname, " ".join(p["addresses"]), gw, extra))
        elif one["kind"] == "switch":
            print("  %-12s bridge %s, ports %s" % (h, one["bridge"], " ".join(one["ports"])))
        elif one["kind"] in ("host", "router"):
            addrs = "; ".join("%s %s" % (i, " ".join(a)) for i, a in one["interfaces"].items())
            extra = ""
            if "web" in one:
                extra = "  [web pid %s %s]" % (one["web"]["pid"], "running" if one["web"]["running"] else "NOT RUNNING")
            print("  %-12s %s%s" % (h, addrs, extra))
    print("links")
    for u, one in link_report.items():
        print("  %-6s %-5s wanem pid %s" % (u, one["state"], one["wanem_pid"]))
        if "upload" in one:
            print("         upload   %s" % one["upload"])
            print("         download %s" % one["download"])
    for p in problems:
        print("PROBLEM: " + p)
sys.exit(0 if state == "up" else 1)
