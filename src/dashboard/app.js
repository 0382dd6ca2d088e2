// TinkerDB dashboard. Plain JavaScript, no build step, no library: it polls the JSON endpoints
// of the node that served it and draws what they say. Everything from the server is put in the
// page as text (textContent), never as HTML: keys and values are user data.
"use strict";

const REFRESH_MS = 1000;          // how often pages refresh
const FETCH_TIMEOUT_MS = 2500;    // a request slower than this counts as "not answering"
const CHART_POINTS = 120;         // samples kept per chart (two minutes at one per second)
const PAGES = ["cluster", "replication", "metrics", "data"];

const state = {
  nodes: null,          // the last /api/nodes answer
  lastOk: null,         // when this node last answered
  failingSince: null,   // when it stopped answering
  scanCursor: "0",
  metrics: { prev: null, ops: [], latency: [], fsync: [], missing: null },
};

// ---------- helpers ----------

function $(id) { return document.getElementById(id); }

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("data-")) node.setAttribute(k, v);
    else node[k] = v;
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

// fetch with a timeout; throws {unreachable: true} when the node did not answer at all.
async function call(path, options) {
  const ctrl = new AbortController();
  const timer = setTimeout(() => ctrl.abort(), FETCH_TIMEOUT_MS);
  try {
    const r = await fetch(path, Object.assign({ signal: ctrl.signal, cache: "no-store" }, options || {}));
    noteAnswered();
    return r;
  } catch (e) {
    noteUnreachable(e.name === "AbortError" ? "no answer within " + FETCH_TIMEOUT_MS / 1000 + " s" : "connection failed");
    throw { unreachable: true };
  } finally {
    clearTimeout(timer);
  }
}

async function callJson(path, options) {
  const r = await call(path, options);
  let body = null;
  try { body = await r.json(); } catch (e) { body = { error: "not JSON (HTTP " + r.status + ")" }; }
  return { status: r.status, ok: r.ok, body };
}

function fmtTime(ms) {
  const d = new Date(ms);
  return d.toLocaleTimeString([], { hour12: false }) + "." + String(d.getMilliseconds()).padStart(3, "0");
}

function fmtDuration(ms) {
  if (ms === null || ms === undefined) return "never";
  if (ms < 1000) return ms + " ms";
  const s = Math.round(ms / 1000);
  if (s < 120) return s + " s";
  if (s < 7200) return Math.round(s / 60) + " min";
  return Math.round(s / 3600) + " h";
}

function fmtSeconds(value) {
  if (value === null || value === undefined || !isFinite(value)) return "–";
  if (value < 0.001) return (value * 1e6).toFixed(0) + " µs";
  if (value < 1) return (value * 1e3).toPrecision(3) + " ms";
  return value.toFixed(2) + " s";
}

// ---------- reachability ----------

function noteAnswered() {
  state.lastOk = Date.now();
  if (state.failingSince !== null) {
    state.failingSince = null;
    $("unreachable-banner").hidden = true;
  }
}

function noteUnreachable(why) {
  if (state.failingSince === null) state.failingSince = Date.now();
  const banner = $("unreachable-banner");
  banner.hidden = false;
  const since = state.lastOk ? " Last answer " + fmtDuration(Date.now() - state.lastOk) + " ago." : "";
  $("unreachable-detail").textContent =
    " " + location.host + ": " + why + "." + since +
    " It may have crashed or been stopped; the other nodes go on without it if a majority is up.";
  const links = $("unreachable-links");
  links.replaceChildren();
  const others = ((state.nodes && state.nodes.nodes) || []).filter((n) => !n.self && n.admin_addr);
  if (others.length === 0) {
    links.append(el("span", { text: "No other node's address is known yet." }));
    return;
  }
  links.append(el("span", { text: "Open another node's dashboard: " }));
  for (const n of others) {
    links.append(el("a", { href: "http://" + n.admin_addr + "/" + location.hash, text: "node " + n.id + " (" + n.admin_addr + ")", "data-node-link": String(n.id) }));
  }
}

// ---------- tabs ----------

function currentPage() {
  const page = location.hash.replace("#", "");
  return PAGES.includes(page) ? page : "cluster";
}

function showPage() {
  const page = currentPage();
  for (const p of PAGES) $("page-" + p).hidden = p !== page;
  for (const a of document.querySelectorAll("#tabs a")) a.classList.toggle("active", a.dataset.page === page);
  if (page === "data" && !state.scanned) { state.scanned = true; scan(true); }
  if (page === "metrics") drawCharts();
}

// ---------- cluster page ----------

async function refreshNodes() {
  let r;
  try { r = await callJson("/api/nodes"); } catch (e) { return; }
  if (!r.ok) {
    $("cluster-summary").textContent = "This node answered HTTP " + r.status + ": " + (r.body.error || "") +
      (r.status === 401 ? " (reload the page to log in)" : "");
    return;
  }
  state.nodes = r.body;
  renderCluster();
  renderReplication();
}

function leaderEntry() {
  const nodes = (state.nodes && state.nodes.nodes) || [];
  return nodes.find((n) => n.cluster && n.cluster.role === "leader") || null;
}

function renderCluster() {
  const data = state.nodes;
  const me = data.nodes.find((n) => n.self);
  const role = me && me.cluster ? me.cluster.role : "?";
  $("whoami").textContent = "node " + data.node_id + " · " + role + " · term " + data.term;
  const reachable = data.nodes.filter((n) => n.reachable && n.cluster).length;
  $("cluster-summary").textContent = data.leader
    ? "Node " + data.leader + " leads term " + data.term + ". " + reachable + " of " + data.nodes.length + " nodes answer."
    : "No leader is known right now (an election may be running). " + reachable + " of " + data.nodes.length + " nodes answer.";
  const leaderNode = data.nodes.find((n) => n.id === data.leader && n.cluster);
  const lc = leaderNode && leaderNode.cluster;
  $("joint-banner").hidden = !(lc && lc.joint);
  if (lc && lc.joint) {
    $("joint-banner").textContent = "Membership change in progress (joint consensus): every commit needs a majority of the old voters " +
      lc.voters_outgoing.map((v) => "node " + v).join(", ") + " and of the new voters " +
      lc.voters.map((v) => "node " + v).join(", ") + ".";
  }
  const cards = $("node-cards");
  cards.replaceChildren(...data.nodes.map(nodeCard));
}

// How this node confirmed its linearizable read batches: at once as the only voter, under
// its leader lease, or through a ReadIndex round (a heartbeat answered by a quorum).
function readsText(c) {
  const r = c.reads || {};
  const parts = [];
  if (r.local) parts.push(r.local + " alone");
  if (r.lease) parts.push(r.lease + " by lease");
  parts.push((r.read_index || 0) + " by ReadIndex");
  return parts.join(", ") + " (" + (c.read_mode || "read-index") + " mode)";
}

function nodeCard(n) {
  const c = n.cluster;
  const up = n.reachable && c;
  const isLeader = up && c.role === "leader";
  const card = el("div", {
    class: "node-card" + (isLeader ? " leader" : "") + (up ? "" : " unreachable"),
    "data-node-id": String(n.id),
    "data-role": up ? c.role : "unreachable",
  });
  const title = el("h3", {}, "Node " + n.id,
    el("span", { class: "badge " + (up ? c.role : "down"), text: up ? c.role : "unreachable" }),
    n.self ? el("span", { class: "badge self", text: "this node" }) : null);
  card.append(title);
  const rows = [];
  if (up) {
    rows.push(["term", c.term], ["leader it knows", c.leader ? "node " + c.leader : "none"],
      ["commit index", c.commit_index], ["applied index", c.applied_index],
      ["last index", c.last_index], ["keys", c.keys],
      ["reads confirmed", readsText(c)],
      ["caught up", c.caught_up ? "yes" : !c.leader ? "no leader known"
        : "applying (" + Math.max(0, c.commit_index - c.applied_index) + " behind)"]);
  } else {
    rows.push(["status", n.error || "not answering"]);
  }
  rows.push(["RESP", n.resp_addr || "unknown"]);
  const table = el("table", {});
  for (const [k, v] of rows) table.append(el("tr", {}, el("td", { text: k }), el("td", { text: String(v) })));
  const adminCell = el("td", {});
  if (n.admin_addr) {
    adminCell.append(n.self ? el("span", { text: n.admin_addr }) : el("a", { href: "http://" + n.admin_addr + "/", text: n.admin_addr }));
  } else {
    adminCell.textContent = "unknown";
  }
  table.append(el("tr", {}, el("td", { text: "admin / dashboard" }), adminCell));
  card.append(table);
  return card;
}

// ---------- replication page ----------

function renderReplication() {
  const leader = leaderEntry();
  const box = $("replication-bars");
  if (!leader) {
    $("replication-leader").textContent = "No leader answers right now, so nobody knows how far each follower got.";
    box.replaceChildren();
    return;
  }
  const lc = leader.cluster;
  $("replication-leader").textContent = "Leader: node " + leader.id + " (term " + lc.term + "), last log index " +
    lc.last_index + ", commit index " + lc.commit_index + ".";
  const byId = new Map(state.nodes.nodes.map((n) => [n.id, n]));
  const rows = [];
  const progress = (lc.progress || []).slice().sort((a, b) => a.id - b.id);
  for (const p of progress) {
    const isLeader = p.id === leader.id;
    const node = byId.get(p.id);
    const pct = lc.last_index > 0 ? Math.min(100, (100 * p.matched) / lc.last_index) : 100;
    const behind = Math.max(0, lc.last_index - p.matched);
    const nc = node && node.cluster;
    const detail = (isLeader ? "leader: " : "") + "match " + p.matched + (behind ? " (" + behind + " behind)" : " (up to date)") +
      (nc ? ", commit " + nc.commit_index + ", applied " + nc.applied_index : ", not answering") +
      (p.voter ? "" : ", learner") + (isLeader ? "" : ", " + p.state) +
      (p.pending_snapshot ? " (sending snapshot " + p.pending_snapshot + ")" : "") +
      (nc && nc.snapshot_receive ? ", " + describeReceive(nc.snapshot_receive) : "");
    const bar = el("div", { class: "bar" }, el("div", { style: "width:" + pct.toFixed(1) + "%" }));
    rows.push(el("div", { class: "bar-row" + (isLeader ? " leader" : ""), "data-node-id": String(p.id), "data-matched": String(p.matched) },
      el("div", { text: "node " + p.id }), bar, el("div", { class: "muted", text: detail })));
  }
  box.replaceChildren(...rows);
}

// A snapshot on its way into a node: "receiving snapshot 1234: 40% of 95.0 MiB".
function describeReceive(r) {
  const pct = r.total > 0 ? Math.floor((100 * r.bytes) / r.total) : 100;
  return r.stage + " snapshot " + r.index + ": " + pct + "% of " + (r.total / 1048576).toFixed(1) + " MiB";
}

async function refreshEvents() {
  let r;
  try { r = await callJson("/api/events"); } catch (e) { return; }
  if (!r.ok) return;
  $("events-capacity").textContent = r.body.capacity;
  const rows = r.body.events.slice().reverse().map((e) => el("tr", { "data-kind": e.kind },
    el("td", { text: fmtTime(e.unix_ms) }),
    el("td", { text: describeEvent(e) }),
    el("td", { text: e.term }),
    el("td", { text: e.leader ? "node " + e.leader : "none" }),
    el("td", { text: e.role })));
  $("events-table").tBodies[0].replaceChildren(...rows);
}

function describeEvent(e) {
  switch (e.kind) {
    case "observed": return "dashboard's node started watching (node " + (e.leader || "?") + " leads)";
    case "term":
      if (e.leader && e.leader !== e.previous_leader) return "election: term " + e.term + ", node " + e.leader + " won";
      if (!e.leader) return "election started: term " + e.term + ", no leader yet";
      return "new term " + e.term + ", node " + e.leader + " still leads";
    case "leader": return e.leader ? "node " + e.leader + " is the leader" : "leader lost (was node " + e.previous_leader + ")";
    case "role": return "this node became " + e.role + " (was " + e.previous_role + ")";
    default: return e.kind;
  }
}

// ---------- metrics page ----------

// Parses Prometheus text exposition: [{name, labels, value}].
function parsePrometheus(text) {
  const samples = [];
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (!line || line.startsWith("#")) continue;
    let i = 0;
    while (i < line.length && line[i] !== "{" && line[i] !== " ") i++;
    const name = line.slice(0, i);
    const labels = {};
    if (line[i] === "{") {
      i++;
      while (i < line.length && line[i] !== "}") {
        let eq = line.indexOf("=", i);
        if (eq < 0) break;
        const key = line.slice(i, eq).trim().replace(/^,/, "").trim();
        i = eq + 2; // skip ="
        let value = "";
        while (i < line.length && line[i] !== '"') {
          if (line[i] === "\\" && i + 1 < line.length) {
            i++;
            value += line[i] === "n" ? "\n" : line[i];
          } else {
            value += line[i];
          }
          i++;
        }
        labels[key] = value;
        i++; // closing quote
        while (i < line.length && (line[i] === "," || line[i] === " ")) i++;
      }
      i++; // closing brace
    }
    const valueText = line.slice(i).trim().split(/\s+/)[0];
    const value = valueText === "+Inf" ? Infinity : valueText === "-Inf" ? -Infinity : Number(valueText);
    if (name && !Number.isNaN(value)) samples.push({ name, labels, value });
  }
  return samples;
}

function sumOf(samples, name) {
  let found = false, total = 0;
  for (const s of samples) if (s.name === name) { found = true; total += s.value; }
  return found ? total : null;
}

// Cumulative bucket counts by upper bound, summed over every other label.
function bucketsOf(samples, name) {
  const byLe = new Map();
  for (const s of samples) {
    if (s.name !== name + "_bucket" || !("le" in s.labels)) continue;
    const le = s.labels.le === "+Inf" ? Infinity : Number(s.labels.le);
    byLe.set(le, (byLe.get(le) || 0) + s.value);
  }
  if (byLe.size === 0) return null;
  return [...byLe.entries()].sort((a, b) => a[0] - b[0]);
}

// The q-quantile of the observations between two scrapes, as Prometheus' histogram_quantile:
// linear interpolation inside the bucket holding the rank. null when nothing was observed.
function quantile(q, now, before) {
  const counts = now.map(([le, c], i) => [le, c - (before && before[i] && before[i][0] === le ? before[i][1] : 0)]);
  const total = counts.length ? counts[counts.length - 1][1] : 0;
  if (!(total > 0)) return null;
  const rank = q * total;
  let prevLe = 0, prevCount = 0;
  for (const [le, c] of counts) {
    if (c >= rank) {
      if (le === Infinity) return prevLe;
      const inBucket = c - prevCount;
      return inBucket > 0 ? prevLe + (le - prevLe) * ((rank - prevCount) / inBucket) : le;
    }
    prevLe = le;
    prevCount = c;
  }
  return prevLe;
}

async function refreshMetrics() {
  let r;
  try { r = await call("/metrics"); } catch (e) { return; }
  const m = state.metrics;
  if (!r.ok) {
    m.missing = r.status === 404 ? "this node has no /metrics endpoint" : "/metrics answered HTTP " + r.status;
    drawCharts();
    return;
  }
  const samples = parsePrometheus(await r.text());
  const now = {
    t: Date.now(),
    ops: sumOf(samples, "tinkerdb_commands_total"),
    latency: bucketsOf(samples, "tinkerdb_command_duration_seconds"),
    fsync: bucketsOf(samples, "tinkerdb_wal_fsync_duration_seconds"),
  };
  m.missing = null;
  const prev = m.prev;
  if (prev) {
    const dt = (now.t - prev.t) / 1000;
    const push = (series, v) => { series.push({ t: now.t, v }); while (series.length > CHART_POINTS) series.shift(); };
    push(m.ops, now.ops !== null && prev.ops !== null && dt > 0 ? Math.max(0, (now.ops - prev.ops) / dt) : null);
    push(m.latency, now.latency ? quantile(0.99, now.latency, prev.latency) : null);
    push(m.fsync, now.fsync ? quantile(0.99, now.fsync, prev.fsync) : null);
  }
  m.present = { ops: now.ops !== null, latency: now.latency !== null, fsync: now.fsync !== null };
  m.prev = now;
  drawCharts();
}

function drawCharts() {
  if (currentPage() !== "metrics") return;
  const m = state.metrics;
  const present = m.present || {};
  drawChart("chart-ops", m.ops, (v) => v.toFixed(v < 10 ? 1 : 0) + "/s", m.missing || (present.ops === false ? "no data: tinkerdb_commands_total is not exported" : null), "idle: no commands");
  drawChart("chart-latency", m.latency, fmtSeconds, m.missing || (present.latency === false ? "no data: tinkerdb_command_duration_seconds is not exported" : null), "no commands in that second");
  drawChart("chart-fsync", m.fsync, fmtSeconds, m.missing || (present.fsync === false ? "no data: tinkerdb_wal_fsync_duration_seconds is not exported" : null), "no fsync in that second");
}

// A line chart of `series` ({t, v}, v null = no value) on a canvas, drawn by hand.
function drawChart(id, series, fmt, missing, idleText) {
  const canvas = $(id);
  const note = $(id + "-note");
  const ratio = window.devicePixelRatio || 1;
  const w = canvas.clientWidth || 520, h = canvas.clientHeight || 180;
  if (canvas.width !== Math.round(w * ratio)) { canvas.width = Math.round(w * ratio); canvas.height = Math.round(h * ratio); }
  const g = canvas.getContext("2d");
  g.setTransform(ratio, 0, 0, ratio, 0, 0);
  g.clearRect(0, 0, w, h);
  const points = series.filter((p) => p.v !== null);
  canvas.dataset.points = String(missing ? 0 : points.length);
  const pad = { l: 72, r: 10, t: 10, b: 22 };
  g.font = "12px system-ui, sans-serif";
  g.fillStyle = "#6b7385";
  if (missing || points.length === 0) {
    g.textAlign = "center";
    g.fillText(missing ? "no data" : "waiting for samples…", w / 2, h / 2);
    note.textContent = missing || "";
    return;
  }
  const max = Math.max(...points.map((p) => p.v)) * 1.15 || 1;
  const t1 = series[series.length - 1].t, t0 = t1 - CHART_POINTS * REFRESH_MS;
  const x = (t) => pad.l + ((t - t0) / (t1 - t0)) * (w - pad.l - pad.r);
  const y = (v) => h - pad.b - (v / max) * (h - pad.t - pad.b);
  g.strokeStyle = "#dde1e8";
  g.lineWidth = 1;
  g.textAlign = "right";
  for (let i = 0; i <= 4; i++) {
    const v = (max * i) / 4, yy = y(v);
    g.beginPath(); g.moveTo(pad.l, yy); g.lineTo(w - pad.r, yy); g.stroke();
    g.fillText(fmt(v), pad.l - 6, yy + 4);
  }
  g.textAlign = "left";
  g.fillText("-2 min", pad.l, h - 6);
  g.textAlign = "right";
  g.fillText("now", w - pad.r, h - 6);
  g.strokeStyle = "#2f6fdf";
  g.lineWidth = 2;
  g.beginPath();
  let drawing = false;
  for (const p of series) {
    if (p.v === null) { drawing = false; continue; }
    if (drawing) g.lineTo(x(p.t), y(p.v)); else g.moveTo(x(p.t), y(p.v));
    drawing = true;
  }
  g.stroke();
  const last = series[series.length - 1];
  note.textContent = last.v === null ? "now: " + idleText : "now: " + fmt(last.v) + " · highest shown: " + fmt(Math.max(...points.map((p) => p.v)));
}

// ---------- data page ----------

async function scan(fromStart) {
  if (fromStart) state.scanCursor = "0";
  const params = new URLSearchParams({
    match: $("scan-pattern").value || "*",
    cursor: state.scanCursor,
    count: $("scan-count").value || "100",
    db: $("scan-db").value || "0",
  });
  $("scan-status").textContent = "scanning…";
  let r;
  try { r = await callJson("/api/keys?" + params); } catch (e) { $("scan-status").textContent = "the node did not answer"; return; }
  if (!r.ok) { $("scan-status").textContent = "error: " + r.body.error; return; }
  state.scanCursor = r.body.cursor;
  const rows = r.body.keys.map((k) => {
    const cell = el("td", { class: "key", text: k.key, title: k.lossy ? "not UTF-8: shown with replacement characters" : "click to inspect" });
    cell.addEventListener("click", () => inspect(k));
    return el("tr", { class: "key-row", "data-key": k.key }, cell, el("td", { text: k.type }),
      el("td", { text: k.ttl_ms === null ? "never" : fmtDuration(k.ttl_ms) }));
  });
  $("keys-table").tBodies[0].replaceChildren(...rows);
  const more = r.body.cursor !== "0";
  $("scan-next").disabled = !more;
  $("scan-status").textContent = rows.length + " key(s) on this page" + (more ? "; more remain (Next page)" : "; the scan is complete") +
    ". SCAN visits " + r.body.count + " hash buckets per page, so a page may hold fewer keys than that, even none.";
}

function inspect(k) {
  const read = { string: "GET", list: "LRANGE", hash: "HGETALL", set: "SMEMBERS", zset: "ZRANGE" }[k.type] || "TYPE";
  const quoted = '"' + k.key.replace(/\\/g, "\\\\").replace(/"/g, '\\"') + '"';
  $("console-input").value = read + " " + quoted + (read === "LRANGE" || read === "ZRANGE" ? " 0 -1" : "");
  runCommand();
}

// A reply in redis-cli's style.
function renderReply(reply, indent) {
  indent = indent || "";
  switch (reply.type) {
    case "string": return reply.simple ? reply.value : JSON.stringify(reply.value);
    case "integer": return "(integer) " + reply.value;
    case "double": return "(double) " + reply.value;
    case "boolean": return reply.value ? "(true)" : "(false)";
    case "bignumber": return "(big number) " + reply.value;
    case "null": return "(nil)";
    case "error": return "(error) " + reply.value;
    case "array": {
      if (reply.value.length === 0) return "(empty array)";
      return reply.value.map((v, i) => (i ? indent : "") + (i + 1) + ") " + renderReply(v, indent + "   ")).join("\n");
    }
    case "map": {
      if (reply.value.length === 0) return "(empty map)";
      return reply.value.map((p, i) => (i ? indent : "") + (i + 1) + "# " + renderReply(p.key, indent) + " => " + renderReply(p.value, indent + "   ")).join("\n");
    }
    default: return JSON.stringify(reply);
  }
}

async function runCommand() {
  const line = $("console-input").value.trim();
  if (!line) return;
  const out = $("console-output");
  out.append(el("div", { class: "cmd", text: location.host + "> " + line }));
  let text, failed = false;
  try {
    const r = await callJson("/api/command", {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-TinkerDB-Request": "1" },
      body: JSON.stringify({ command: line, db: Number($("scan-db").value || 0) }),
    });
    if (r.body.reply) { text = renderReply(r.body.reply); failed = r.body.reply.type === "error"; }
    else { text = "(error) " + (r.body.error || "HTTP " + r.status); failed = true; }
  } catch (e) {
    text = "(error) the node did not answer";
    failed = true;
  }
  out.append(el("div", { class: "reply" + (failed ? " err" : ""), text }));
  out.scrollTop = out.scrollHeight;
}

// ---------- start ----------

async function refreshFooter() {
  let r;
  try { r = await callJson("/api/node"); } catch (e) { return; }
  if (!r.ok) return;
  const n = r.body;
  $("footer").textContent = "TinkerDB " + n.version + " · node " + n.node_id + " · pid " + n.pid + " · up " +
    fmtDuration(n.uptime_seconds * 1000) + " · " + (n.disk.total_bytes / 1048576).toFixed(1) + " MiB on disk (WAL and snapshots)";
}

function init() {
  const db = $("scan-db");
  for (let i = 0; i < 16; i++) db.append(el("option", { value: String(i), text: String(i) }));
  $("scan-form").addEventListener("submit", (e) => { e.preventDefault(); scan(true); });
  $("scan-next").addEventListener("click", () => scan(false));
  $("console-form").addEventListener("submit", (e) => { e.preventDefault(); runCommand(); });
  window.addEventListener("hashchange", showPage);
  showPage();
  const tick = async () => {
    const page = currentPage();
    const jobs = [refreshNodes(), refreshMetrics()];
    if (page === "replication") jobs.push(refreshEvents());
    await Promise.allSettled(jobs);
    setTimeout(tick, REFRESH_MS);
  };
  tick();
  refreshEvents();
  refreshFooter();
  setInterval(refreshFooter, 10 * REFRESH_MS);
}

init();
