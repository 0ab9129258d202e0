#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The policy API of the real trabouled (net_null ports, HTTPS on loopback): authentication and
# roles (401/403), validation errors (400), apply, commit-confirmed rolled back automatically
# within 1 s of its deadline, restart restoring the last committed version, a corrupt version
# file refused loudly with a fallback, and rate limiting (429 + Retry-After).
# Usage: policy_api_test.sh TRABOULED
set -euo pipefail

trabouled=$1
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"
e2e_init --no-lab api
prefix="tb$name"
pid=""
e2e_log="$work/log"
e2e_log_lines=40
stop_daemon() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  rm -rf "/var/run/dpdk/$prefix"
}
e2e_cleanups+=(stop_daemon)

openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=127.0.0.1" \
  -addext "subjectAltName=IP:127.0.0.1" -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
op_token="operator-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
view_token="viewer-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
op_hash=$(printf %s "$op_token" | sha256sum | cut -d' ' -f1)
view_hash=$(printf %s "$view_token" | sha256sum | cut -d' ' -f1)

# policy NAME DEFAULT_UPLINKS_JSON: $work/NAME.json, the net_null policy with a voice rule named
# after it and the default rule on those uplinks.
policy() {
  "$py" "$json_edit" "$here/net_null/policy.json" --out "$work/$1.json" "p['name'] = '$1'" \
    "p['rules'][0]['name'] = 'voice-$1'" "p['rules'][1]['action']['uplinks'] = $2" || fail "policy $1"
}
policy first '["fiber", "vdsl"]'

"$py" "$json_edit" "$here/net_null/edge.json" --out "$work/edge.json" "p['eal'][2] = '$prefix'" \
  "p['api']['tokens'][0]['sha256'] = '$op_hash'" "p['api']['tokens'][1]['sha256'] = '$view_hash'" ||
  fail "edge.json"

port=""
start() {
  : >"$work/log"
  "$trabouled" --config "$work/edge.json" >>"$work/log" 2>&1 &
  pid=$!
  for _ in $(seq 1 100); do
    port=$(sed -n 's|.*API on https://127.0.0.1:\([0-9]*\)/api/v1.*|\1|p' "$work/log" | tail -n1)
    [ -n "$port" ] && return 0
    kill -0 "$pid" 2>/dev/null || fail "trabouled exited at start"
    sleep 0.1
  done
  fail "the API did not come up"
}
stop() {
  kill -TERM "$pid"
  wait "$pid" || fail "trabouled did not stop cleanly"
  pid=""
}

# call METHOD PATH TOKEN [BODY]: prints "STATUS BODY", the body on one line.
call() {
  local method=$1 path=$2 token=$3 body=${4:-}
  local args=(-sS --cacert "$work/cert.pem" -X "$method" -o "$work/body" -w '%{http_code}'
              -D "$work/headers")
  [ -n "$token" ] && args+=(-H "Authorization: Bearer $token")
  [ -n "$body" ] && args+=(-H 'Content-Type: application/json' --data-binary "$body")
  local code
  code=$(curl "${args[@]}" "https://127.0.0.1:$port/api/v1$path")
  echo "$code $(tr -d '\n' <"$work/body")"
}
expect_code() {  # expect_code WANT "STATUS BODY" WHAT
  [ "${2%% *}" = "$1" ] || fail "$3: expected HTTP $1, got ${2:0:300}"
  pass "$3 → $1"
}
json_get() {  # json_get "STATUS BODY" PYTHON_EXPR (d is the body)
  "$py" -c "import json,sys; d=json.loads(sys.argv[1].split(' ',1)[1]); print($2)" "$1"
}
apply_body() {  # apply_body FILE COMMENT [TIMEOUT]
  "$py" -c "
import json,sys
b={'policy': json.load(open(sys.argv[1])), 'comment': sys.argv[2]}
if len(sys.argv) > 3: b['confirm_timeout_s'] = int(sys.argv[3])
print(json.dumps(b))" "$@"
}

start
v1=$(call GET /policy "$view_token")
expect_code 200 "$v1" "viewer reads the running policy"
[ "$(json_get "$v1" "d['version']")" = 1 ] || fail "first boot should commit version 1"
hash1=$(json_get "$v1" "d['hash']")

# Authentication and roles.
expect_code 401 "$(call GET /status "")" "no token"
grep -qi '^WWW-Authenticate: Bearer' "$work/headers" || fail "401 without WWW-Authenticate"
expect_code 401 "$(call GET /status "wrong-token")" "wrong token"
expect_code 403 "$(call POST /policy/apply "$view_token" "$(apply_body "$work/first.json" x)")" \
  "viewer may not apply"
expect_code 200 "$(call GET /rules "$view_token")" "viewer reads the effective rules"

# Validation: a malformed body and a bad policy, every error named.
expect_code 400 "$(call POST /policy/validate "$op_token" '{"version": 1,')" "malformed JSON"
policy bad '["fibre"]'
r=$(call POST /policy/validate "$op_token" "$(cat "$work/bad.json")")
expect_code 400 "$r" "policy naming an unknown uplink"
echo "$r" | grep -q '/rules/1/action/uplinks/0' || fail "the error must name the field: $r"
r=$(call POST /policy/apply "$op_token" "$(apply_body "$work/bad.json" broken)")
expect_code 400 "$r" "applying it is refused"
[ "$(json_get "$(call GET /policy "$view_token")" "d['hash']")" = "$hash1" ] ||
  fail "a refused policy changed the running one"
pass "the running policy is untouched"

# Apply a new version; the data plane's effective rules follow.
policy second '["vdsl", "fiber"]'
r=$(call POST /policy/apply "$op_token" "$(apply_body "$work/second.json" "vdsl first")")
expect_code 200 "$r" "operator applies version 2"
r=$(call GET /rules "$view_token")
echo "$r" | grep -q '"voice-second"' || fail "GET /rules does not show the new rules: $r"
pass "effective rules are version 2's"
hash2=$(json_get "$(call GET /policy "$view_token")" "d['hash']")

# Commit-confirmed without a confirm: rolled back automatically within 1 s of the deadline.
policy third '["fiber"]'
r=$(call POST /policy/apply "$op_token" "$(apply_body "$work/third.json" "risky" 2)")
expect_code 200 "$r" "commit-confirmed apply (2 s)"
t_apply=$(date +%s.%N)
s=$(call GET /status "$view_token")
[ "$(json_get "$s" "d['policy']['pending'] is not None")" = True ] || fail "no pending version: $s"
restored=""
while :; do
  now=$(date +%s.%N)
  h=$(json_get "$(call GET /policy "$view_token")" "d['hash']")
  if [ "$h" = "$hash2" ]; then restored=$now; break; fi
  awk -v n="$now" -v t="$t_apply" 'BEGIN { exit !(n - t > 5) }' && break
  sleep 0.05
done
[ -n "$restored" ] || fail "version 2 was not restored 5 s after a 2 s commit-confirmed"
late=$(awk -v r="$restored" -v t="$t_apply" 'BEGIN { printf "%.3f", r - t - 2 }')
awk -v l="$late" 'BEGIN { exit !(l <= 1.0) }' || fail "restored ${late} s after the deadline (> 1 s)"
pass "commit-confirmed restored version 2, ${late} s after its deadline"

# Restart: the last committed version comes back (not the rolled-back one).
stop
start
r=$(call GET /policy "$view_token")
[ "$(json_get "$r" "d['hash']")" = "$hash2" ] || fail "restart did not restore version 2: $r"
pass "restart restores the last committed version"

# A corrupt version file: refused, said loudly, the previous good version runs.
committed=$(json_get "$r" "d['version']")
file=$(printf '%s/state/policies/%06d.json' "$work" "$committed")
[ -f "$file" ] || fail "no version file $file"
stop
truncate -s 100 "$file"
start
grep -qi 'corrupt\|error' "$work/log" || fail "nothing said about the corrupt file"
r=$(call GET /policy "$view_token")
[ "$(json_get "$r" "d['version']")" != "$committed" ] || fail "the corrupt version was loaded"
s=$(call GET /status "$view_token")
[ "$(json_get "$s" "d['policy']['corrupt_files']")" -ge 1 ] || fail "status hides the corrupt file"
pass "corrupt version $committed refused; running $(json_get "$r" "d['version']")"

# Rate limit: 100 requests from one address as fast as 8 connections carry them (limit 20/s,
# burst 40) → some get 429 with Retry-After. 8 is the default cap of connections per client.
urls=()
for _ in $(seq 1 100); do urls+=("https://127.0.0.1:$port/api/v1/status"); done
burst() { # PARALLEL OUT
  local outs=()
  for _ in "${urls[@]}"; do outs+=(-o /dev/null); done
  curl -s --parallel --parallel-immediate --parallel-max "$1" --cacert "$work/cert.pem" \
    -H "Authorization: Bearer $view_token" "${outs[@]}" \
    -w '%{http_code} %header{retry-after}\n' "${urls[@]}" >"$2" 2>/dev/null || true
}
burst 8 "$work/burst"
n429=$(grep -c '^429' "$work/burst" || true)
n200=$(grep -c '^200' "$work/burst" || true)
[ "$n429" -ge 1 ] || fail "100 requests at once were never rate limited ($(sort "$work/burst" | uniq -c | tr '\n' ' '))"
[ "$n200" -ge 1 ] || fail "no request of the burst was served"
grep '^429' "$work/burst" | grep -vq '^429 [0-9][0-9]*$' && fail "a 429 without Retry-After"
pass "burst of 100: $n200 served, $n429 refused with 429 + Retry-After"

# 50 connections at once from one address: past the per-client cap (8) they are refused at
# once (counted in GET /status api.connections_refused), and the API still answers after.
sleep 3 # the rate limiter's bucket refills
before=$(json_get "$(call GET /status "$view_token")" "d['api']['connections_refused']")
burst 50 "$work/burst50"
sleep 3
s=$(call GET /status "$view_token")
after=$(json_get "$s" "d['api']['connections_refused']")
[ "$after" -gt "$before" ] || fail "50 connections at once from one address were all accepted"
pass "50 connections at once: $((after - before)) refused over the per-client cap; API still up"

# GET /metrics from the running daemon: Prometheus text that promtool (tools/setup installs
# it) accepts as it is, with the data plane's own figures in it.
command -v promtool >/dev/null || fail "promtool missing (tools/setup installs prometheus)"
curl -sS --cacert "$work/cert.pem" -H "Authorization: Bearer $view_token" -o "$work/metrics" \
  "https://127.0.0.1:$port/api/v1/metrics" || fail "GET /metrics"
promtool check metrics <"$work/metrics" >"$work/promtool.out" 2>&1 ||
  fail "promtool check metrics: $(head -c 600 "$work/promtool.out")"
for want in '^traboule_uplink_link_up\{uplink="[^"]+"\} [01]$' '^traboule_worker_loops_total\{worker="0"\} [1-9]' \
  '^traboule_flows_capacity [1-9]' '^traboule_api_requests_total [1-9]'; do
  grep -Eq "$want" "$work/metrics" || fail "GET /metrics has no line matching $want"
done
pass "GET /metrics: $(grep -c '^traboule_' "$work/metrics") samples, promtool check metrics clean"

stop
echo "PASS: policy API"
