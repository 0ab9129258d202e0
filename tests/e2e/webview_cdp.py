#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
# Drives a headless Chromium over the DevTools protocol (python3-websocket) through the web view:
# loads /ui/ with a token in the address fragment, waits for the page's first render, checks the
# plots have points and the tables are filled, that no script error or CSP violation was logged
# and the token left the address bar, saves a screenshot, then clicks the operator-only action
# and expects the API's refusal on the page.
# Usage: webview_cdp.py DEVTOOLS_PORT URL TOKEN SCREENSHOT_PNG
import base64
import json
import sys
import time
import urllib.request

import websocket

port, url, token, shot = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


# The browser's page target (Chromium opens one at start).
deadline = time.time() + 30
page = None
while time.time() < deadline and page is None:
    try:
        targets = json.load(urllib.request.urlopen("http://127.0.0.1:%s/json/list" % port, timeout=2))
        page = next((t for t in targets if t.get("type") == "page"), None)
    except OSError:
        time.sleep(0.5)
if page is None:
    fail("no DevTools page target on port " + port)
ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=30, suppress_origin=True)
next_id = [0]
events = []


def call(method, **params):
    next_id[0] += 1
    ws.send(json.dumps({"id": next_id[0], "method": method, "params": params}))
    while True:
        msg = json.loads(ws.recv())
        if msg.get("id") == next_id[0]:
            if "error" in msg:
                fail("%s: %s" % (method, msg["error"]))
            return msg.get("result", {})
        events.append(msg)


def js(expr):
    r = call("Runtime.evaluate", expression=expr, returnByValue=True, awaitPromise=True)
    if "exceptionDetails" in r:
        fail("script %r threw: %s" % (expr, r["exceptionDetails"]))
    return r["result"].get("value")


def until(expr, seconds, what):
    end = time.time() + seconds
    while time.time() < end:
        v = js(expr)
        if v:
            return v
        time.sleep(0.25)
    fail("%s within %d s (%s)" % (what, seconds, expr))


for domain in ("Page.enable", "Runtime.enable", "Log.enable"):
    call(domain)
call("Emulation.setDeviceMetricsOverride", width=1280, height=2200, deviceScaleFactor=1, mobile=False)
call("Page.navigate", url=url + "#token=" + token)
until("window.traboule && window.traboule.ready === true", 30, "the page's first render")
# Chart.js draws after layout: give it a frame, then read what the page plotted.
time.sleep(1)
points = js("JSON.stringify(window.traboule.points || {})")
points = json.loads(points)
print("  plotted points:", points)
if not points or points.get("rtt", 0) < 3:
    fail("the RTT plot has fewer than 3 points: %r" % points)
if js("typeof Chart") != "function":
    fail("Chart.js did not load from /ui/chart.js")
canvas = js("document.getElementById('chart-rtt').dataset.points")
if int(canvas or 0) < 3:
    fail("canvas chart-rtt says %r points" % canvas)
if "token=" in js("location.href"):
    fail("the token is still in the address bar: " + js("location.href"))
role = js("document.getElementById('role-badge').textContent")
if role != "viewer":
    fail("role badge %r, expected viewer" % role)
rows = js("""JSON.stringify({links: document.querySelectorAll('#links tr').length,
  events: document.querySelectorAll('#events tr').length,
  avail: document.querySelectorAll('#avail tr').length,
  apps: document.querySelectorAll('#apps tr').length})""")
rows = json.loads(rows)
print("  table rows (with the header):", rows)
if rows["links"] < 4 or rows["events"] < 2 or rows["avail"] < 2:
    fail("tables not filled: %r" % rows)

png = call("Page.captureScreenshot", format="png", captureBeyondViewport=True)["data"]
with open(shot, "wb") as f:
    f.write(base64.b64decode(png))
print("  screenshot:", shot)

# The operator-only action, with the viewer token: two clicks, then the API's 403 on the page.
js("document.getElementById('rollback').click()")
js("document.getElementById('rollback').click()")
action = until("window.traboule.lastAction && JSON.stringify(window.traboule.lastAction)", 10,
               "the rollback's answer")
action = json.loads(action)
shown = js("document.getElementById('action-result').textContent")
print("  operator action with the viewer token:", action, "->", repr(shown))
if action["status"] != 403 or "operator" not in action["message"] or "403" not in shown:
    fail("the rollback was not refused as a viewer's: %r / %r" % (action, shown))

# Nothing went wrong in the page: no exception, no console error, no CSP violation.
bad = []
for e in events:
    m, p = e.get("method"), e.get("params", {})
    if m == "Runtime.exceptionThrown":
        bad.append(p["exceptionDetails"].get("text", "exception"))
    elif m == "Log.entryAdded" and p["entry"]["level"] == "error":
        text = p["entry"].get("text", "")
        # The 403 of the refused action is expected; the browser logs failed fetches as errors.
        if "403" in text and "rollback" in p["entry"].get("url", text):
            continue
        bad.append(text + " " + p["entry"].get("url", ""))
    elif m == "Runtime.consoleAPICalled" and p.get("type") == "error":
        bad.append(" ".join(str(a.get("value", "")) for a in p.get("args", [])))
if bad:
    fail("errors in the page: %r" % bad[:5])
print("ok: web view")
