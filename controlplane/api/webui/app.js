// SPDX-License-Identifier: Apache-2.0
// Traboule's local web view (docs/webview.md). Plain JavaScript, no build step: reads the
// box's own API (/api/v1) with the token the user gives (or #token=... in the address, which
// never reaches a server or a log), and draws with Chart.js (/ui/chart.js) when it is there.
// Everything from the API goes into the page as text (textContent), never as HTML.
"use strict";

const state = { token: "", range: "hour", charts: {}, role: "", ready: false, refreshes: 0 };
window.traboule = state; // for the browser test and for curious operators

const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c instanceof Node ? c : String(c ?? ""));
  return e;
}

async function api(path, options) {
  const opts = Object.assign({ headers: {} }, options || {});
  opts.headers = Object.assign({ Authorization: "Bearer " + state.token,
                                 Accept: "application/json" }, opts.headers);
  const res = await fetch("/api/v1" + path, opts);
  let body = null;
  try { body = await res.json(); } catch (e) { body = null; }
  return { status: res.status, body };
}

function fmt(v, digits) {
  if (v === null || v === undefined || Number.isNaN(v)) return "–";
  return Number(v).toFixed(digits ?? 1);
}
function bytes(n) {
  const u = ["B", "kB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1000 && i < u.length - 1) { n /= 1000; ++i; }
  return fmt(n, i ? 1 : 0) + " " + u[i];
}
function duration(s) {
  s = Math.round(s || 0);
  const d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
  return (d ? d + " d " : "") + (d || h ? h + " h " : "") + m + " min";
}
function hhmm(ms) {
  const t = new Date(ms);
  return String(t.getHours()).padStart(2, "0") + ":" + String(t.getMinutes()).padStart(2, "0");
}
function table(id, head, rows) {
  const t = $(id);
  t.replaceChildren(el("tr", {}, ...head.map((h) => el("th", {}, h))));
  for (const r of rows)
    t.append(el("tr", {}, ...r.map((c) => (c instanceof Node && c.tagName === "TD") ? c : el("td", {}, c))));
}
const num = (v) => el("td", { class: "num" }, v);
const stateSpan = (s) => el("span", { class: s === "up" ? "up" : s === "down" ? "down" : "unknown" }, s);

function card(title, value) { return el("div", { class: "card" }, el("b", {}, value), el("span", {}, title)); }

function renderStatus(st) {
  const d = st.daemon || {};
  state.role = st.caller ? st.caller.role : "";
  $("role-badge").textContent = state.role;
  $("who").textContent = "token " + (st.caller ? st.caller.name : "?") + " · " + (d.role || "") + " box";
  const ups = (d.uplinks || []).map((u) => u.name + " " + (u.link_up ? "up" : "down")).join(", ");
  $("status").replaceChildren(
    card("uptime", duration(d.uptime_s)),
    card("policy running", "v" + (st.policy ? st.policy.running_version : "?")),
    card("uplink links", ups || "none"),
    card("flows", (d.flows ? d.flows.active : 0) + " / " + (d.flows ? d.flows.capacity : 0)),
    card("workers", d.workers ?? "?"));
  const p = st.policy || {};
  $("policy").textContent = "Running version " + p.running_version + ", committed " +
    p.committed_version + (p.pending ? " (a change waits for confirmation)" : "") + ".";
}

function renderLinks(doc) {
  const rows = [];
  for (const u of doc.uplinks || [])
    for (const p of u.paths || [])
      rows.push([p.name, stateSpan(p.state || "unknown"),
                 num(fmt(p.rtt_us && p.rtt_us.avg != null ? p.rtt_us.avg / 1000 : null, 2)),
                 num(fmt(p.jitter_us && p.jitter_us.rtt != null ? p.jitter_us.rtt / 1000 : null, 2)),
                 num(fmt(p.window && p.window.loss_ratio != null ? p.window.loss_ratio * 100 : null, 2))]);
  table("links", ["path", "state", "RTT ms", "jitter ms", "loss %"], rows);
}

const palette = ["#2457c5", "#c62828", "#1a7f37", "#b26a00", "#7b3fb5", "#00838f", "#6d4c41", "#ad1457"];

function lineChart(id, datasets, unit) {
  if (typeof Chart === "undefined") return 0;
  const points = datasets.reduce((n, d) => n + d.data.filter((p) => p.y !== null).length, 0);
  $(id).dataset.points = String(points);
  const old = state.charts[id];
  if (old) {
    old.data.datasets = datasets;
    old.update("none");
    return points;
  }
  state.charts[id] = new Chart($(id), {
    type: "line",
    data: { datasets },
    options: {
      animation: false, responsive: true, maintainAspectRatio: false, spanGaps: false,
      parsing: false, normalized: true,
      elements: { point: { radius: 0 }, line: { borderWidth: 1.5 } },
      scales: {
        x: { type: "linear", ticks: { callback: (v) => hhmm(v), maxTicksLimit: 8 } },
        y: { beginAtZero: true, title: { display: true, text: unit } },
      },
      plugins: { legend: { position: "bottom", labels: { boxWidth: 12 } },
                 tooltip: { callbacks: { title: (items) => items.length ? hhmm(items[0].parsed.x) : "" } } },
    },
  });
  return points;
}

function renderHistory(h) {
  const series = (col, scale) => (h.paths || []).map((p, i) => ({
    label: p.name, borderColor: palette[i % palette.length], backgroundColor: palette[i % palette.length],
    data: p.points.map((pt) => ({ x: pt[0], y: pt[col] === null ? null : pt[col] * scale })),
  }));
  state.points = {
    rtt: lineChart("chart-rtt", series(1, 1), "ms"),
    jitter: lineChart("chart-jitter", series(2, 1), "ms"),
    loss: lineChart("chart-loss", series(3, 1), "%"),
  };
  const rates = [];
  (h.uplinks || []).forEach((u, i) => {
    const c = palette[i % palette.length];
    rates.push({ label: u.name + " in", borderColor: c, backgroundColor: c,
                 data: u.points.map((pt) => ({ x: pt[0], y: pt[1] === null ? null : pt[1] / 1e6 })) });
    rates.push({ label: u.name + " out", borderColor: c, backgroundColor: c, borderDash: [4, 3],
                 data: u.points.map((pt) => ({ x: pt[0], y: pt[2] === null ? null : pt[2] / 1e6 })) });
  });
  state.points.rate = lineChart("chart-rate", rates, "Mbit/s");
  $("no-charts").hidden = typeof Chart !== "undefined";
}

function renderApps(doc) {
  table("apps", ["application", "category", "flows", "out", "in"],
        (doc.apps || []).map((a) => [a.name || "unknown", a.category || "", num(a.active_flows ?? 0),
                                     num(bytes(a.bytes_out || 0)), num(bytes(a.bytes_in || 0))]));
}

function renderEvents(doc) {
  const list = (doc.events || []).slice().reverse();
  table("events", ["time", "class", "what", "state", "text"], list.map((e) => [
    new Date(e.time_ms).toLocaleString(),
    e.incident ? el("span", { class: e.incident }, e.incident) : "",
    e.kind + " " + e.subject, e.state, e.text]));
}

function renderAvailability(doc) {
  $("avail-summary").textContent = doc.month ? ("Month " + doc.month + " (" + doc.timezone +
    "), target " + doc.target_percent + " %: at most " + duration(doc.allowed_unavailable_s) +
    " unavailable.") : "No report.";
  table("avail", ["subject", "availability %", "unavailable", "outages", "longest", "business hours %", "target"],
        (doc.subjects || []).map((s) => [s.kind + " " + s.name, num(fmt(s.availability_percent, 3)),
          num(duration(s.unavailable_s)), num(s.outages), num(duration(s.longest_outage_s)),
          num(fmt(s.business_hours ? s.business_hours.availability_percent : null, 3)),
          el("td", { class: s.meets_target ? "up" : "down" }, s.meets_target ? "met" : "missed")]));
}

function month() {
  const t = new Date();
  return t.getFullYear() + "-" + String(t.getMonth() + 1).padStart(2, "0");
}

async function refresh() {
  const [st, ups, hist, apps, evs, av] = await Promise.all([
    api("/status"), api("/uplinks"), api("/links/history?range=" + state.range),
    api("/apps/top?top=10"), api("/events?limit=20"), api("/report/availability?month=" + month())]);
  if (st.status === 401) return showLogin("That token was refused (401).");
  const err = [st, ups, hist, apps, evs, av].find((r) => r.status !== 200);
  $("error").hidden = !err;
  if (err) $("error").textContent = "Some figures could not be read (HTTP " + err.status + ").";
  if (st.status === 200) renderStatus(st.body);
  if (ups.status === 200) renderLinks(ups.body);
  if (hist.status === 200) renderHistory(hist.body);
  if (apps.status === 200) renderApps(apps.body);
  if (evs.status === 200) renderEvents(evs.body);
  if (av.status === 200) renderAvailability(av.body);
  $("main").hidden = false;
  $("login").hidden = true;
  state.refreshes++;
  state.ready = true;
  document.body.dataset.ready = "1";
}

// An operator action: two clicks (no modal dialog), then POST /policy/rollback to the version
// before the running one. A viewer token gets the API's 403, shown as it is.
let armed = false;
async function rollback() {
  const out = $("action-result");
  if (!armed) {
    armed = true;
    $("rollback").textContent = "Click again to roll back";
    return;
  }
  armed = false;
  $("rollback").textContent = "Roll back to the previous policy";
  const hist = await api("/policy/history");
  const running = hist.body ? hist.body.running_version : 0;
  const prev = (hist.body ? hist.body.versions : []).map((v) => v.version).filter((v) => v < running).pop();
  const r = await api("/policy/rollback", {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ version: prev || running, comment: "web view" }) });
  const msg = r.body && r.body.error ? r.body.error.message : "";
  out.className = r.status === 200 ? "up" : "down";
  out.textContent = r.status === 200 ? "Rolled back to version " + (prev || running) + "."
    : "Refused (HTTP " + r.status + "): " + msg;
  state.lastAction = { status: r.status, message: msg };
}

function showLogin(message) {
  $("login").hidden = false;
  $("main").hidden = true;
  $("error").hidden = !message;
  $("error").textContent = message || "";
}

function start() {
  const m = /(?:^#|&)token=([^&]+)/.exec(location.hash);
  if (m) {
    sessionStorage.setItem("traboule-token", decodeURIComponent(m[1]));
    history.replaceState(null, "", location.pathname + location.search); // out of the address bar
  }
  state.token = sessionStorage.getItem("traboule-token") || "";
  $("login-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    state.token = $("token-input").value.trim();
    sessionStorage.setItem("traboule-token", state.token);
    refresh();
  });
  for (const b of document.querySelectorAll(".range button"))
    b.addEventListener("click", () => {
      state.range = b.dataset.range;
      for (const o of document.querySelectorAll(".range button")) o.classList.toggle("on", o === b);
      refresh();
    });
  $("rollback").addEventListener("click", rollback);
  if (!state.token) return showLogin("");
  refresh();
  setInterval(() => { if (state.token) refresh(); }, 10000);
}

document.addEventListener("DOMContentLoaded", start);
