#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# traboulectl against the real API (tests/e2e/ctl_test_server.cc: ApiServer, PolicyManager,
# PolicyStore) on 127.0.0.1 with a self-signed certificate: one box (status, policy
# validate/apply/confirm/history/diff/show/rollback, commit-confirmed expiry, 401/403, --json),
# then fleets of three (canary first, stop at the first failure, the per-device report).
# Usage: traboulectl_test.sh TRABOULECTL CTL_TEST_SERVER
set -uo pipefail
CTL=${1:?traboulectl binary}
SERVER=${2:?ctl_test_server binary}
OPENSSL=/usr/bin/openssl
[ -x "$OPENSSL" ] || { echo "SKIP: $OPENSSL missing"; exit 77; }
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"
e2e_init --no-lab --no-root ctl
TMP=$work
PIDS=()
stop_boxes() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
}
e2e_cleanups+=(stop_boxes)

# A check on the last run: its stdout and stderr go with the failure.
bad() { soft_fail "$1" "--- stdout" "$(cat "$TMP/out")" "--- stderr" "$(cat "$TMP/err")"; }

# run NAME WANT_RC ARGS...: runs traboulectl, keeps stdout/stderr in $TMP/out and $TMP/err.
LAST_OK=1
run() {
  local name=$1 want=$2
  shift 2
  "$CTL" "$@" >"$TMP/out" 2>"$TMP/err"
  local rc=$?
  if [ "$rc" -eq "$want" ]; then LAST_OK=1; pass "$name (exit $rc)"; else LAST_OK=0; bad "$name: exit $rc, expected $want"; fi
}
# out_has / err_has NAME FIXED-STRING: checks the last run's output.
out_has() { if grep -qF -- "$2" "$TMP/out"; then pass "$1"; else bad "$1: stdout lacks '$2'"; fi; }
err_has() { if grep -qF -- "$2" "$TMP/err"; then pass "$1"; else bad "$1: stderr lacks '$2'"; fi; }
# out_re / err_re NAME EXTENDED-REGEX: the same with a pattern (column spacing varies).
out_re() { if grep -qE -- "$2" "$TMP/out"; then pass "$1"; else bad "$1: stdout lacks /$2/"; fi; }
err_re() { if grep -qE -- "$2" "$TMP/err"; then pass "$1"; else bad "$1: stderr lacks /$2/"; fi; }
out_lacks() { if grep -qF -- "$2" "$TMP/out"; then bad "$1: stdout has '$2'"; else pass "$1"; fi; }
# json_is NAME PYTHON-EXPRESSION-ON-d: the last stdout parses as JSON and the expression holds.
json_is() {
  if "$py" -c "import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if ($2) else 1)" \
      "$TMP/out" 2>>"$TMP/err"; then pass "$1"; else bad "$1: not ($2)"; fi
}

# --- certificate, tokens, policies ---------------------------------------------------------
"$OPENSSL" req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
  -keyout "$TMP/key.pem" -out "$TMP/cert.pem" -subj "/CN=127.0.0.1" \
  -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" 2>"$TMP/openssl.log" ||
  fail "cannot make a certificate" "$(cat "$TMP/openssl.log")"
OP=operator-token-$$
VIEW=viewer-token-$$

# The policies: tests/e2e/net_null/policy.json's uplinks, with a default rule (p1), a voice rule
# before it (p2), or a misspelt uplink (bad).
base="$here/net_null/policy.json"
"$py" "$json_edit" "$base" --out "$TMP/p1.json" 'p["rules"] = p["rules"][1:]' &&
  "$py" "$json_edit" "$base" --out "$TMP/p2.json" 'p["name"] = "second"' 'p["rules"][0].update(
      name="voice", match={"proto": "udp", "dst_ports": ["5060-5061"]},
      action={"egress": "overlay", "uplinks": ["vdsl", "fiber"]})' &&
  "$py" "$json_edit" "$base" --out "$TMP/bad.json" 'del p["name"]' \
    'for u in p["uplinks"]: del u["up_kbps"]' \
    'p["rules"] = [{"name": "default", "action": {"egress": "overlay", "uplinks": ["fibre"]}}]' ||
  fail "the test policies"

# start_box NAME UPLINKS: starts a server, sets PORT_<NAME>.
start_box() {
  local name=$1 uplinks=$2
  mkdir -p "$TMP/$name"
  "$SERVER" --state-dir "$TMP/$name/state" --cert "$TMP/cert.pem" --key "$TMP/key.pem" \
    --operator-token "$OP" --viewer-token "$VIEW" --uplinks "$uplinks" --name "$name" \
    --port-file "$TMP/$name/port" >"$TMP/$name/log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 100); do
    [ -s "$TMP/$name/port" ] && break
    sleep 0.1
  done
  [ -s "$TMP/$name/port" ] || fail "box $name did not start" "$(cat "$TMP/$name/log")"
  printf -v "PORT_$name" '%s' "$(cat "$TMP/$name/port")"
}

# --- one box --------------------------------------------------------------------------------
start_box solo fiber,vdsl
export TRABOULE_SERVER="https://127.0.0.1:$PORT_solo"
export TRABOULE_TOKEN=$OP
A=(--ca "$TMP/cert.pem")

run "status" 0 "${A[@]}" status
out_re "status shows the bootstrap version" "^policy\.running_version +1$"
out_re "status shows the caller" "^caller\.name +alice$"
run "status --json" 0 "${A[@]}" --json status
json_is "status --json is the server's JSON" "d['policy']['running_version'] == 1 and d['daemon']['activated_version'] == 1"

run "wrong token" 3 "${A[@]}" --token nope status
err_has "401 message" "authentication failed: check --token"
run "no token" 2 "${A[@]}" status --token ""
err_has "empty token message" "the token is empty"
run "untrusted certificate" 3 status
err_has "untrusted certificate message" "is not trusted"
run "insecure accepts it" 0 --insecure status
run "nothing listening" 3 "${A[@]}" --server https://127.0.0.1:1 status
err_has "connection refused message" "cannot connect to https://127.0.0.1:1"
run "viewer may read" 0 "${A[@]}" --token "$VIEW" status
run "viewer may not apply" 1 "${A[@]}" --token "$VIEW" policy apply "$TMP/p1.json"
err_has "403 message" "permission denied"
run "usage error" 2 "${A[@]}" policy rollback latest
err_has "usage error message" "must be a version number"

run "offline validate (policy's own uplinks)" 0 --server https://127.0.0.1:1 policy validate "$TMP/p1.json"
out_has "offline validate says valid" "valid for edge with uplinks fiber, vdsl (from the policy)"
run "offline validate, bad policy" 1 policy validate "$TMP/bad.json" --uplinks fiber,vdsl
out_has "offline error line POINTER: VALUE: MESSAGE" '/rules/0/action/uplinks/0: "fibre": '
run "offline validate, box without vdsl" 1 policy validate "$TMP/p1.json" --uplinks fiber,lte
out_has "offline error names the uplink" '"vdsl"'
run "offline validate --json" 1 --json policy validate "$TMP/bad.json"
json_is "offline --json report" "d['valid'] is False and d['errors'][0]['pointer'] == '/rules/0/action/uplinks/0'"
run "remote validate, bad policy" 1 "${A[@]}" policy validate --remote "$TMP/bad.json"
out_has "remote error line POINTER: VALUE: MESSAGE" '/rules/0/action/uplinks/0: "fibre": '
run "remote validate" 0 "${A[@]}" policy validate --remote "$TMP/p2.json"
out_has "remote validate shows the changes" "valid on https://127.0.0.1:$PORT_solo; applying it would change:"

run "apply commit-confirmed" 0 "${A[@]}" policy apply "$TMP/p1.json" --comment first --confirm-timeout 60
out_has "apply says version 2" "applied: version 2 is running"
out_has "apply says pending" "pending confirmation until"
run "status while pending" 0 "${A[@]}" --json status
json_is "pending version 2 is active" "d['policy']['running_version'] == 2 and d['policy']['pending']['version'] == 2 and d['daemon']['activated_version'] == 2"
run "apply while pending is refused" 1 "${A[@]}" policy apply "$TMP/p2.json"
err_has "409 message" "conflict (409)"
run "confirm" 0 "${A[@]}" policy confirm
out_has "confirm says version 2" "confirmed: version 2 is committed"
run "confirm with nothing pending" 1 "${A[@]}" policy confirm
err_has "nothing pending message" "conflict (409)"
run "apply at once" 0 "${A[@]}" policy apply "$TMP/p2.json" --comment second
out_has "apply says version 3" "applied: version 3 is running"
out_lacks "no pending line" "pending confirmation"
run "history" 0 "${A[@]}" policy history
out_has "history header" "VERSION  STATE"
out_has "history marks the running version" "committed (running)"
out_has "history shows the comment" "second"
run "history --json" 0 "${A[@]}" --json policy history
json_is "history --json lists 3 versions" "len(d['versions']) == 3 and d['running_version'] == 3"
run "diff 2 3" 0 "${A[@]}" policy diff 2 3
out_has "diff shows the new rule" "/rules/0"
run "show 2" 0 "${A[@]}" policy show 2
json_is "show 2 prints the applied document" "d == json.load(open('$TMP/p1.json'))"
err_re "show puts the record on stderr" "^comment +first$"
run "show" 0 "${A[@]}" policy show
json_is "show prints the running document" "d['name'] == 'second'"
run "show 99" 1 "${A[@]}" policy show 99
err_has "404 message" "not found (404)"
run "rollback" 0 "${A[@]}" policy rollback 2 --comment back
out_has "rollback makes version 4" "rolled back to version 2: version 4 is running"
run "status after rollback" 0 "${A[@]}" --json status
json_is "version 4 runs" "d['policy']['running_version'] == 4 and d['daemon']['activated_version'] == 4"

# Commit-confirmed that nobody confirms: the box goes back by itself.
run "apply, never confirmed" 0 "${A[@]}" policy apply "$TMP/p2.json" --confirm-timeout 1
back=0
for _ in $(seq 50); do
  "$CTL" "${A[@]}" --json status >"$TMP/out" 2>"$TMP/err"
  if "$py" -c "import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if d['policy']['running_version'] == 4 and d['policy']['pending'] is None else 1)" "$TMP/out" 2>/dev/null; then
    back=1
    break
  fi
  sleep 0.2
done
if [ "$back" = 1 ]; then pass "unconfirmed apply rolled back by itself"; else bad "unconfirmed apply was not rolled back"; fi

for cmd in links flows apps counters rules qos routes drops; do
  run "$cmd" 0 "${A[@]}" "$cmd"
  run "$cmd --json" 0 "${A[@]}" --json "$cmd"
  json_is "$cmd --json parses" "isinstance(d, (dict, list))"
done
run "links table" 0 "${A[@]}" links
out_has "links humanises rtt" "12.3 ms"
out_has "links humanises jitter" "800 µs"
out_has "links humanises loss" "0.5 %"
out_has "links shows the last change" "5 consecutive probes answered"
run "flows --top 2" 0 "${A[@]}" flows --top 2
json_rows=$(grep -c "198.51.100.7" "$TMP/out")
if [ "$json_rows" = 2 ]; then pass "flows --top 2 shows two flows"; else bad "flows --top 2 shows $json_rows flows"; fi
run "counters with prefix" 0 "${A[@]}" counters parse.
out_has "counters shows parse.ok" "parse.ok"
out_lacks "counters filters by prefix" "route.rule"

# --- a hostile server: the real HTTPS transport against bad answers -------------------------
HERE=$(cd "$(dirname "$0")" && pwd)
"$py" "$HERE/traboulectl_test.hostile_server.py" "$TMP/cert.pem" "$TMP/key.pem" "$TMP/hostile.ports" \
  >"$TMP/hostile.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do
  [ -s "$TMP/hostile.ports" ] && break
  sleep 0.1
done
read -r HTLS HPLAIN <"$TMP/hostile.ports" || fail "the hostile server did not start" "$(cat "$TMP/hostile.log")"
H=(--ca "$TMP/cert.pem" --server "https://127.0.0.1:$HTLS")
run "hostile: status not JSON" 1 "${H[@]}" status
err_has "hostile: malformed answer message" 'malformed answer from the server: not JSON (got "<html>not json</html>")'
run "hostile: wrong types still render" 0 "${H[@]}" links
out_has "hostile: odd cells shown as they are" "slow"
run "hostile: 429" 1 "${H[@]}" flows
err_has "hostile: Retry-After read" "rate limited, retry after 7 s"
run "hostile: escapes" 0 "${H[@]}" apps
out_has "hostile: escapes neutralised" '\x1b[2J\x1b]0;owned\x07evil'
if grep -q $'\x1b' "$TMP/out"; then bad "hostile: raw escape reached the terminal"; else pass "hostile: no raw escape printed"; fi
run "hostile: connection dropped" 3 "${H[@]}" policy history
run "hostile: long answer" 0 "${H[@]}" routes
run "hostile: oversized answer" 1 "${H[@]}" drops
err_has "hostile: size limit message" "is larger than 64 MiB; refused"
run "hostile: binary 500" 1 "${H[@]}" qos
err_has "hostile: 500 excerpt escaped" 'server error (500) (answer was not JSON: "\x00\xff\xfeboom")'
run "hostile: bad version in a change answer" 1 "${H[@]}" policy confirm
err_has "hostile: bad version message" '"version" is not a version number'
run "hostile: plain HTTP port" 3 --ca "$TMP/cert.pem" --server "https://127.0.0.1:$HPLAIN" status
err_has "hostile: TLS failure message" "TLS handshake with https://127.0.0.1:$HPLAIN failed"

# --- fleets ---------------------------------------------------------------------------------
start_box f1 fiber,vdsl
start_box f2 fiber,vdsl
start_box f3 fiber,vdsl
start_box f4 fiber,lte
printf '%s\n' "$OP" >"$TMP/op.token"
# device NAME BOX TOKEN-JSON [EXTRA-JSON]: one entry of a devices file (paths relative to it).
device() { printf '{"name": "%s", "server": "https://127.0.0.1:%s", %s, "ca": "cert.pem"%s}' \
  "$1" "$(cat "$TMP/$2/port")" "$3" "${4:-}"; }
good='"token_file": "op.token"'
wrong='"token": "not-the-token"'

# status_of BOX FIELD: a field of box's /status policy section.
status_of() {
  "$CTL" --ca "$TMP/cert.pem" --server "https://127.0.0.1:$(cat "$TMP/$1/port")" --json status |
    "$py" -c "import json,sys; v=json.load(sys.stdin)['policy']['$2']; print('null' if v is None else v)"
}

echo "[$(device a f1 "$good"), $(device b f2 "$wrong"), $(device c f3 "$good")]" >"$TMP/fleet1.json"
run "fleet: wrong token on the second device" 1 fleet apply --devices "$TMP/fleet1.json" "$TMP/p2.json" --settle 0 --confirm-timeout 30
out_has "fleet report header" "DEVICE  CANARY  RESULT"
out_re "canary confirmed" "^a +yes +confirmed +2 "
out_re "second device failed with the 401 message" "^b +failed: apply: authentication failed: check --token"
out_re "third device skipped" "^c +skipped +- +-$"
out_has "fleet summary" "1 confirmed, 1 failed, 1 skipped"
err_has "progress on stderr, canary first" "a (canary): applying"
if [ "$(status_of f1 running_version)" = 2 ] && [ "$(status_of f1 committed_version)" = 2 ] &&
   [ "$(status_of f1 pending)" = null ]; then pass "canary runs and committed version 2"; else bad "canary state"; fi
if [ "$(status_of f3 running_version)" = 1 ]; then pass "skipped device untouched"; else bad "skipped device was touched"; fi

run "fleet --json" 1 --json fleet apply --devices "$TMP/fleet1.json" "$TMP/p1.json" --settle 0
json_is "fleet --json report" "[x['result'] for x in d['devices']] == ['confirmed', 'failed', 'skipped'] and d['devices'][0]['canary'] and d['ok'] is False"

echo "[$(device a f1 "$good"), $(device b f2 "$good"), $(device c f3 "$good")]" >"$TMP/fleet2.json"
run "fleet: all healthy, canary c" 0 fleet apply --devices "$TMP/fleet2.json" "$TMP/p2.json" --settle 0.2 --canary c
json_order=$(grep -E "^(a|b|c) " "$TMP/out" | cut -c1 | tr -d '\n')
if [ "$json_order" = cab ]; then pass "canary first, then file order"; else bad "push order $json_order"; fi
out_has "all confirmed" "3 confirmed, 0 failed, 0 skipped"
if [ "$(status_of f2 running_version)" = 2 ] && [ "$(status_of f3 committed_version)" = 2 ]; then
  pass "every device committed its new version"; else bad "fleet versions"; fi

echo "[$(device a f1 "$good"), $(device d f4 "$good"), $(device c f3 "$good")]" >"$TMP/fleet3.json"
before=$(status_of f3 running_version)
run "fleet: policy the second box's uplinks do not have" 1 fleet apply --devices "$TMP/fleet3.json" "$TMP/p1.json" --settle 0
out_re "box refuses the policy" "^d +failed: apply: refused by the server \\(400\\)"
out_re "then stop" "^c +skipped"
if [ "$(status_of f4 running_version)" = 1 ] && [ "$(status_of f3 running_version)" = "$before" ]; then
  pass "refusing box and the one after unchanged"; else bad "fleet 3 state"; fi

echo "[$(device a f1 "$good"), $(device d f4 "$good" ', "uplinks": ["fiber", "lte"]'), $(device c f3 "$good")]" >"$TMP/fleet4.json"
before=$(status_of f1 running_version)
run "fleet: offline check against known uplinks first" 1 fleet apply --devices "$TMP/fleet4.json" "$TMP/p1.json" --settle 0
out_re "device with known uplinks fails offline" "^d +failed: invalid for this device"
out_has "validation problem listed" 'd: /uplinks/1/name: "vdsl"'
if [ "$(status_of f1 running_version)" = "$before" ]; then pass "nothing pushed after an offline failure"; else bad "canary was pushed"; fi

run "fleet: unknown canary" 2 fleet apply --devices "$TMP/fleet2.json" "$TMP/p1.json" --canary zz
err_has "unknown canary message" 'no device is named "zz"'
echo '[{"name": "x", "server": "http://127.0.0.1:1", "token": "t"}]' >"$TMP/fleet_bad.json"
run "fleet: bad devices file" 1 fleet apply --devices "$TMP/fleet_bad.json" "$TMP/p1.json"
err_has "devices file error names the entry" "/0/server: bad server URL"

e2e_summary
