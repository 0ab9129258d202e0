#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The web view (docs/webview.md) in a real browser: headless Chromium (Debian's), in the edge's
# namespace, opens https://127.0.0.1:8443/ui/ with the lab's viewer token (the API's own
# certificate pinned, not "ignore all errors"), and webview_cdp.py checks over the DevTools
# protocol that the link plots have points, the tables are filled, nothing errored, and that the
# operator-only action (policy rollback) is refused with the viewer token. The screenshot stays
# in BUILD_DIR/test-artifacts/webview.png. The history then survives a daemon restart.
# Usage: webview_test.sh BUILD_DIR
set -euo pipefail

# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_init "$1" wv
command -v chromium >/dev/null || { echo "SKIP: chromium not installed (tools/setup)"; exit 77; }
/usr/bin/python3 -c "import websocket" 2>/dev/null ||
  { echo "SKIP: python3-websocket not installed (tools/setup)"; exit 77; }
lab_dir="/run/traboule-lab/$name"
chrome_pid=""
test_cleanup() {
  [ -z "$chrome_pid" ] || kill "$chrome_pid" 2>/dev/null || true
  [ -z "$chrome_pid" ] || wait "$chrome_pid" 2>/dev/null || true
}
e2e_cleanups+=(test_cleanup)
on_fail() {
  tail -n 20 "$work/chrome.log" 2>/dev/null || true
}

"$lab" up --clean >"$work/up.txt" 2>&1 || { cat "$work/up.txt"; fail "lab up"; }
pass "lab '$name' up"
viewer=$(tr -d '\n' <"$lab_dir/tokens/viewer")
api_crt="$lab_dir/edge/api.crt"
[ -f "$api_crt" ] || api_crt=$(find "$lab_dir" -name api.crt -path '*edge*' | head -1)
[ -f "$api_crt" ] || fail "no edge API certificate under $lab_dir"
history() { # history RANGE: GET /links/history with the viewer token, into $work/history.json
  ip netns exec "$(ns edge)" curl -sS --cacert "$api_crt" -H "Authorization: Bearer $viewer" \
    "https://127.0.0.1:8443/api/v1/links/history?range=$1" >"$work/history.json"
}
fiber_points() {
  "$py" -c 'import json,sys
h = json.load(open(sys.argv[1]))
print(sum(1 for s in h["paths"] if s["name"] == "fiber/hub" for p in s["points"] if p[1] is not None))' \
    "$work/history.json"
}
# A point every 10 s: wait for three RTT points of fiber/hub (the first comes at start).
for _ in $(seq 1 40); do
  history hour && [ "$(fiber_points)" -ge 3 ] && break
  sleep 1
done
[ "$(fiber_points)" -ge 3 ] || fail "GET /links/history has no 3 RTT points for fiber/hub: $(head -c 400 "$work/history.json")"
pass "GET /links/history: $(fiber_points) RTT points for fiber/hub in the last hour"

# Chromium trusts exactly the edge API's key (SPKI pin), nothing else.
spki=$(openssl x509 -in "$api_crt" -pubkey -noout | openssl pkey -pubin -outform der |
  openssl dgst -sha256 -binary | base64)
port=$((20000 + $$ % 20000))
ip netns exec "$(ns edge)" chromium --headless=new --no-sandbox --disable-gpu \
  --user-data-dir="$work/chrome" --remote-debugging-port="$port" --remote-allow-origins='*' \
  --ignore-certificate-errors-spki-list="$spki" --no-first-run about:blank \
  >"$work/chrome.log" 2>&1 &
chrome_pid=$!
mkdir -p "$build/test-artifacts"
shot="$build/test-artifacts/webview.png"
ip netns exec "$(ns edge)" "$py" "$here/webview_cdp.py" "$port" "https://127.0.0.1:8443/ui/" \
  "$viewer" "$shot" || fail "the web view in Chromium"
[ -s "$shot" ] || fail "no screenshot"
pass "Chromium: plots with points, tables filled, rollback refused to the viewer; $shot"

# The history survives a restart (state_dir/history.json, written at stop).
before=$(fiber_points)
"$lab" restart edge >"$work/restart.txt" 2>&1 || fail "restart edge: $(tail -5 "$work/restart.txt")"
history hour || fail "GET /links/history after the restart"
after=$(fiber_points)
[ "$after" -ge "$before" ] || fail "history after restart: $after points, before: $before"
history day
"$py" -c 'import json,sys
h = json.load(open(sys.argv[1]))
assert h["range"] == "day" and h["step_s"] == 300, h
assert any(s["points"] for s in h["paths"]), h' "$work/history.json" || fail "the day's history"
pass "history kept across a daemon restart ($before → $after points), day range answers"
echo "PASS"
