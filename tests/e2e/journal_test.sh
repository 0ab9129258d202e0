#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The event journal and the monthly availability in the lab (docs/operations.md):
#   1. a 30 s fiber cut journals, in order, fiber's P1 "down" and its "up", and the month's
#      report grows fiber's unavailable seconds by 30 ± 2 s (one more outage);
#   2. cutting all three uplinks journals the site's P0 "no usable path to the hub", and its end,
#      and the site's unavailable seconds follow (less the metered 4g's 5 s detection);
#   3. after a clean restart of the edge daemon, the journal (P0, P1, a stop and a start) and the
#      month's figures are still there; after a simulated crash (SIGKILL) the start record says
#      since when the box was down, and the report counts that gap against every subject;
#   4. the CSV report has a row per subject and the API refuses bad months and classes by name;
#   5. rsyslogd, a real collector in the edge's namespace, receives the journal's records as
#      RFC 5424 over UDP and TCP, the incident class in the structured data; the lab's
#      snmptrapd gets fiber's P1 as a trbIncident trap (v2c and v3), after the journal's record
#      and the syslog message.
# Usage: journal_test.sh BUILD_DIR
set -euo pipefail

# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_init "$1" jr
test_cleanup() {
  [ -z "${rsyslog_pid:-}" ] || kill "$rsyslog_pid" 2>/dev/null || true
}
e2e_cleanups+=(test_cleanup)
on_fail() {
  "$lab" exec edge traboulectl events 2>&1 | tail -30 || true
}
ctl_of() {
  "$lab" status --json | "$py" -c 'import json,sys; print(json.load(sys.stdin)["links"][sys.argv[1]]["ctl"])' "$1"
}
month=$(TZ=Europe/Paris date +%Y-%m)
# unavailable KIND NAME: seconds unavailable this month (0 when the subject is not listed).
unavailable() {
  "$lab" exec edge traboulectl --json report availability --month "$month" | "$py" -c '
import json, sys
r = json.load(sys.stdin)
for s in r["subjects"]:
    if s["kind"] == sys.argv[1] and s["name"] == sys.argv[2]:
        print(s["unavailable_s"], s["outages"]); break
else:
    print(0, 0)' "$1" "$2"
}
# events_json: the journal as JSON, into $work/events.json.
events_json() { "$lab" exec edge traboulectl --json events >"$work/events.json"; }
wait_up() { # wait_up UPLINK...: until each uplink's hub path is up again (30 s)
  local u i
  for u in "$@"; do
    for i in $(seq 1 60); do
      [ "$("$lab" exec edge traboulectl --json links | "$py" -c '
import json, sys
d = json.load(sys.stdin)
ups = d["uplinks"] if isinstance(d, dict) else d
u = [x for x in ups if x["name"] == sys.argv[1]][0]
print("up" if any(p.get("state") == "up" and "/inet" not in p.get("name", "") for p in u.get("paths", [])) else "no")' "$u")" = up ] && break
      sleep 0.5
    done
  done
}

"$lab" up >/dev/null || fail "lab up"
# A real syslog collector (rsyslogd) in the edge's namespace, where the lab's edge config sends
# its journal (127.0.0.1:5514 UDP and :5515 TCP, octet-counted): each transport to its file.
rsyslog_pid=""
if command -v rsyslogd >/dev/null; then
  cat >"$work/rsyslog.conf" <<RSYSLOG
global(workDirectory="$work")
module(load="imudp")
module(load="imtcp")
template(name="tb" type="string" string="%timegenerated:::date-rfc3339% %PRI% %HOSTNAME% %APP-NAME% %MSGID% %STRUCTURED-DATA% %msg%\n")
ruleset(name="udp") { action(type="omfile" file="$work/udp.log" template="tb") }
ruleset(name="tcp") { action(type="omfile" file="$work/tcp.log" template="tb") }
input(type="imudp" address="127.0.0.1" port="5514" ruleset="udp")
input(type="imtcp" address="127.0.0.1" port="5515" ruleset="tcp")
RSYSLOG
  ip netns exec "tblab-$name-edge" rsyslogd -n -f "$work/rsyslog.conf" -i "$work/rsyslog.pid" \
    >"$work/rsyslog.out" 2>&1 &
  rsyslog_pid=$!
  sleep 1
  kill -0 "$rsyslog_pid" 2>/dev/null || fail "rsyslogd did not start: $(cat "$work/rsyslog.out")"
fi
fiber_ctl=$(ctl_of fiber)
vdsl_ctl=$(ctl_of vdsl)
g4_ctl=$(ctl_of 4g)
sleep 2

# --- 1. a 30 s fiber cut.
read -r fiber0 out0 <<<"$(unavailable uplink fiber)"
"$wanem" ctl --ctl "$fiber_ctl" down >/dev/null
sleep 30
"$wanem" ctl --ctl "$fiber_ctl" up >/dev/null
wait_up fiber
sleep 1
read -r fiber1 out1 <<<"$(unavailable uplink fiber)"
events_json
"$py" - "$work/events.json" <<'PYEOF' || fail "the fiber cut is not journaled as P1 down then up: $(head -c 600 "$work/events.json")"
import json, sys
ev = json.load(open(sys.argv[1]))["events"]
f = [e for e in ev if e["kind"] == "uplink" and e["subject"] == "fiber"]
assert len(f) >= 2, f
down, up = f[-2], f[-1]
assert down["state"] == "down" and down["incident"] == "P1" and down["severity"] == "error", down
assert up["state"] == "up" and up["incident"] == "", up
assert down["seq"] < up["seq"] and down["time_ms"] < up["time_ms"], (down, up)
d = (up["time_ms"] - down["time_ms"]) / 1000
assert 28 <= d <= 32, d
print("ok: journal: fiber down (P1, seq %d) then up (seq %d), %.1f s apart" % (down["seq"], up["seq"], d))
PYEOF
"$py" -c "import sys; d = $fiber1 - $fiber0; print('fiber unavailable grew by %.1f s' % d); sys.exit(0 if 28 <= d <= 32 else 1)" ||
  fail "fiber's unavailable seconds grew from $fiber0 to $fiber1 (want 30 ± 2)"
[ "$out1" -eq $((out0 + 1)) ] || fail "fiber's outages went from $out0 to $out1 (want one more)"
pass "availability: fiber unavailable $fiber0 → $fiber1 s, outages $out0 → $out1"
if [ -n "$rsyslog_pid" ]; then
  for f in udp tcp; do
    for _ in $(seq 1 20); do grep -q 'subject="fiber" state="down"' "$work/$f.log" 2>/dev/null && break; sleep 0.2; done
    line=$(grep 'subject="fiber" state="down"' "$work/$f.log" | grep ' uplink ' | tail -1 || true)
    case ${line#* } in
      "131 "*"trabouled uplink [traboule@32473 "*'incident="P1"'*"primary uplink fiber has no path to the hub"*) ;;
      *) fail "rsyslog ($f) did not get fiber's P1 as RFC 5424 with its class: '$line' ($(tail -3 "$work/$f.log" 2>/dev/null))" ;;
    esac
  done
  pass "syslog: rsyslogd got fiber's P1 over UDP and TCP: $line"
else
  echo "note: rsyslogd not installed (tools/setup installs it): syslog delivery not checked"
fi
# The lab's snmptrapd (docs/lab.md "Supervision") got the P1 as trbIncident, v2c and v3, and in
# order: the journal's record, then the syslog message, then the trap (traps come from the
# subagent's poll of the journal: up to its 5 s interval later).
traps="/run/traboule-lab/$name/logs/edge-snmptrapd.log"
if [ -f "$traps" ] && [ -n "$rsyslog_pid" ]; then
  for _ in $(seq 1 20); do
    [ "$(grep '32473\.0\.3' "$traps" | grep -c '"fiber"')" -ge 2 ] && break
    sleep 0.5
  done
  "$py" - "$work/events.json" "$work/udp.log" "$traps" <<'PYEOF' || fail "the P1's journal record, syslog message and SNMP trap, in order"
import datetime, json, re, sys, time
ev = json.load(open(sys.argv[1]))["events"]
down = [e for e in ev if e["kind"] == "uplink" and e["subject"] == "fiber" and e["state"] == "down"][-1]
t_journal = down["time_ms"] / 1000
line = [l for l in open(sys.argv[2]) if 'subject="fiber" state="down"' in l and " uplink " in l][-1]
t_syslog = datetime.datetime.fromisoformat(line.split(" ", 1)[0]).timestamp()
traps = [l for l in open(sys.argv[3]) if re.search(r"32473\.0\.3\b", l) and '"fiber"' in l]
versions = {v for l in traps for v in re.findall(r"SNMP (v2c|v3)", l)}
assert versions == {"v2c", "v3"}, ("trbIncident for fiber as v2c and v3", traps[-2:])
stamp = re.match(r"(\d+)-(\d+)-(\d+) (\d+):(\d+):(\d+) ", traps[-1]).groups()
t_trap = time.mktime(tuple(int(x) for x in stamp) + (0, 0, -1))  # snmptrapd's local time, 1 s
print("  journal %.3f, syslog +%.3f s, trap +%.0f s (1 s resolution)" %
      (t_journal, t_syslog - t_journal, t_trap - t_journal))
assert t_journal <= t_syslog + 0.001, "syslog before the journal record"
assert int(t_syslog) <= t_trap, "the trap before the syslog message"
assert t_trap - t_journal <= 12, "the trap came more than 12 s after the record"
PYEOF
  pass "SNMP: snmptrapd got fiber's P1 as trbIncident (v2c and v3), after the journal and syslog"
else
  echo "note: no snmptrapd in the lab (tools/setup, traboule-snmp): the trap is checked by e2e_snmp"
fi

# --- 2. every uplink cut for 15 s: the site has no path to the hub (P0). The metered 4g is
# probed every second (probes.metered_interval_ms): the box knows it is down 5 probes later,
# so the site's outage reads about 15 - 5 + 1 s.
for c in "$fiber_ctl" "$vdsl_ctl" "$g4_ctl"; do "$wanem" ctl --ctl "$c" down >/dev/null; done
sleep 15
for c in "$fiber_ctl" "$vdsl_ctl" "$g4_ctl"; do "$wanem" ctl --ctl "$c" up >/dev/null; done
wait_up fiber vdsl 4g
sleep 1
"$lab" exec edge traboulectl --json events --class P0 >"$work/p0.json"
"$py" - "$work/p0.json" <<'PYEOF' || fail "no P0 for the site: $(head -c 600 "$work/p0.json")"
import json, sys
ev = json.load(open(sys.argv[1]))["events"]
assert all(e["incident"] == "P0" for e in ev), ev
s = [e for e in ev if e["kind"] == "site" and e["subject"] == "hub" and e["state"] == "down"]
assert s and s[-1]["severity"] == "critical", ev
print("ok: P0: %s" % s[-1]["text"])
PYEOF
events_json
"$py" - "$work/events.json" <<'PYEOF' || fail "the site's outage did not end in the journal"
import json, sys
ev = json.load(open(sys.argv[1]))["events"]
s = [e for e in ev if e["kind"] == "site" and e["subject"] == "hub"]
assert s[-1]["state"] == "up" and s[-2]["state"] == "down", s
PYEOF
read -r site1 siteout1 <<<"$(unavailable site hub)"
read -r fiber1 out1 <<<"$(unavailable uplink fiber)"
"$py" -c "import sys; sys.exit(0 if 8 <= $site1 <= 17 else 1)" || fail "site unavailable $site1 s after a 15 s total cut"
pass "all uplinks cut 15 s: P0 journaled, site unavailable $site1 s ($siteout1 outage; 4g known down 5 s in)"

# --- 3. a clean restart keeps the journal and the month; a crash is counted as downtime.
before=$(wc -c <"/run/traboule-lab/$name/edge/state/journal/journal.jsonl")
"$lab" restart edge >/dev/null || fail "restart edge"
events_json
"$py" - "$work/events.json" <<'PYEOF' || fail "the journal did not survive a restart: $(tail -c 800 "$work/events.json")"
import json, sys
ev = json.load(open(sys.argv[1]))["events"]
kinds = [(e["kind"], e["state"]) for e in ev]
assert any(e["incident"] == "P0" for e in ev) and any(e["incident"] == "P1" for e in ev), kinds
d = [e for e in ev if e["kind"] == "daemon"]
assert [x["state"] for x in d[-2:]] == ["stop", "start"], d[-3:]
assert "last_alive_ms" not in d[-1].get("extra", {}), d[-1]
seqs = [e["seq"] for e in ev]
assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs), seqs
print("ok: after a restart: %d records, the last two daemon records stop/start" % len(ev))
PYEOF
read -r fiber2 out2 <<<"$(unavailable uplink fiber)"
# The restart itself is downtime (stop to start: a few seconds), nothing else.
"$py" -c "import sys; sys.exit(0 if $fiber2 >= $fiber1 and $fiber2 - $fiber1 <= 15 else 1)" ||
  fail "fiber's month figure went from $fiber1 to $fiber2 across a clean restart"
pass "clean restart: journal kept ($before bytes before), fiber $fiber1 → $fiber2 s this month (the restart's gap)"

sleep 6  # the alive stamp is written every 5 s
read -r site2 _ <<<"$(unavailable site hub)"
"$lab" restart edge --crash >/dev/null || fail "restart edge --crash"
events_json
"$py" - "$work/events.json" <<'PYEOF' || fail "the start after a crash does not say since when: $(tail -c 600 "$work/events.json")"
import json, sys
ev = json.load(open(sys.argv[1]))["events"]
d = [e for e in ev if e["kind"] == "daemon"]
last = d[-1]
assert last["state"] == "start" and d[-2]["state"] == "start", d[-3:]
assert "last_alive_ms" in last.get("extra", {}), last
gap = (last["time_ms"] - last["extra"]["last_alive_ms"]) / 1000
assert 0 < gap < 30, gap
assert last["severity"] == "warning", last
print("ok: crash: start record says last alive %.1f s before" % gap)
PYEOF
read -r site3 _ <<<"$(unavailable site hub)"
"$py" -c "import sys; sys.exit(0 if $site3 - $site2 >= 1 else 1)" ||
  fail "the crash's downtime is not in the site's figure ($site2 → $site3 s)"
pass "crash: the site's unavailable seconds grew $site2 → $site3 s"

# --- 4. CSV, and bad requests.
"$lab" exec edge traboulectl report availability --month "$month" --csv >"$work/report.csv"
head -1 "$work/report.csv" | grep -q '^month,kind,name,observed_s' || fail "CSV header: $(head -1 "$work/report.csv")"
grep -q "^$month,site,hub," "$work/report.csv" || fail "no site row in the CSV"
grep -q "^$month,uplink,fiber," "$work/report.csv" || fail "no fiber row in the CSV"
"$lab" exec edge traboulectl report availability --month "$month" >"$work/report.txt"
grep -q "Europe/Paris" "$work/report.txt" || fail "the report does not name its time zone"
if "$lab" exec edge traboulectl report availability --month 2026-13 >"$work/bad.txt" 2>&1; then
  fail "month 2026-13 accepted"
fi
grep -q -- "--month" "$work/bad.txt" || fail "bad month not named: $(cat "$work/bad.txt")"
if "$lab" exec edge traboulectl events --class P4 >"$work/bad2.txt" 2>&1; then fail "class P4 accepted"; fi
pass "CSV has $(($(wc -l <"$work/report.csv") - 1)) rows; bad month and class refused"
echo "PASS: journal"
