/**
 * The dashboard's page: one self-contained HTML document (no external scripts or fonts, so it
 * works in an air-gapped cluster) that polls /api/graph and draws it as SVG. Layout: callers
 * left, callees right (columns by longest path from a node nobody calls; cycles cut), idle
 * nodes in the last column. Edges: green solid = mTLS, orange dashed = plaintext or mixed,
 * red = denies or errors; the label gives rate, error rate, p99, open connections. A click on
 * a node shows its identity, certificate expiry, pods, nodes, waypoint and policies.
 * The DOM carries data-* attributes (data-node, data-from/data-to, data-security) that the
 * browser test reads.
 */
const SCRIPT = String.raw`
const $ = (s) => document.querySelector(s);
const NS = "http://www.w3.org/2000/svg";
let selected = null, last = null;
const fmt = (v, d = 1) => (v >= 100 ? v.toFixed(0) : v.toFixed(d));
function el(tag, attrs, parent, text) {
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  if (parent) parent.appendChild(e);
  return e;
}
function layout(g) {
  const out = new Map(g.nodes.map((n) => [n.id, []]));
  const indeg = new Map(g.nodes.map((n) => [n.id, 0]));
  for (const e of g.edges) { out.get(e.from)?.push(e.to); indeg.set(e.to, (indeg.get(e.to) || 0) + 1); }
  const depth = new Map();
  const active = new Set(g.edges.flatMap((e) => [e.from, e.to]));
  const roots = g.nodes.filter((n) => active.has(n.id) && !indeg.get(n.id)).map((n) => n.id);
  if (roots.length === 0 && active.size) roots.push([...active][0]);
  const visit = (id, d, path) => {
    if (path.has(id) || (depth.get(id) ?? -1) >= d) return;
    depth.set(id, d); path.add(id);
    for (const t of out.get(id) || []) visit(t, d + 1, path);
    path.delete(id);
  };
  for (const r of roots) visit(r, 0, new Set());
  for (const id of active) if (!depth.has(id)) visit(id, 0, new Set());
  const maxD = Math.max(0, ...depth.values());
  for (const n of g.nodes) if (!depth.has(n.id)) depth.set(n.id, maxD + 1);
  const cols = new Map();
  for (const n of g.nodes) { const d = depth.get(n.id); if (!cols.has(d)) cols.set(d, []); cols.get(d).push(n); }
  const pos = new Map();
  for (const [d, ns] of cols) ns.forEach((n, i) => pos.set(n.id, { x: 110 + d * 270, y: 70 + i * 96 }));
  return { pos, width: 260 + (maxD + 1) * 270, height: 120 + Math.max(...[...cols.values()].map((c) => c.length)) * 96 };
}
function edgeLabel(e) {
  const parts = [];
  if (e.requestsPerSecond > 0) parts.push(fmt(e.requestsPerSecond) + " rps", fmt(e.errorRate * 100, 0) + "% err");
  if (e.p99Ms !== undefined) parts.push("p99 " + fmt(e.p99Ms) + " ms");
  if (e.requestsPerSecond === 0 && e.connectionsPerSecond > 0) parts.push(fmt(e.connectionsPerSecond, 2) + " conn/s");
  if (e.openConnections > 0) parts.push(e.openConnections + " open");
  if (e.denies > 0) parts.push(e.denies + " denied");
  return parts.join(" · ");
}
function draw(snap) {
  last = snap;
  const g = snap.graph;
  $("#status").textContent = snap.source + " · window " + Math.round(g.windowSeconds) + " s · " + g.nodes.length + " nodes, " + g.edges.length + " edges · " + new Date(snap.updatedAt).toLocaleTimeString();
  $("#problems").textContent = snap.problems.join("\n");
  const { pos, width, height } = layout(g);
  const svg = $("#graph");
  svg.setAttribute("viewBox", "0 0 " + width + " " + height);
  svg.setAttribute("width", width); svg.setAttribute("height", height);
  svg.querySelectorAll("g.edge, g.node").forEach((x) => x.remove());
  for (const e of g.edges) {
    const a = pos.get(e.from), b = pos.get(e.to);
    if (!a || !b) continue;
    const bad = e.denies > 0 || e.errorRate > 0.05;
    const color = bad ? "#c62828" : e.security === "mutual_tls" ? "#2e7d32" : "#ef6c00";
    const ge = el("g", { class: "edge", "data-from": e.from, "data-to": e.to, "data-security": e.security, "data-protocol": e.protocol }, svg);
    const mx = (a.x + b.x) / 2;
    el("path", { d: "M" + (a.x + 34) + "," + a.y + " C" + mx + "," + a.y + " " + mx + "," + b.y + " " + (b.x - 38) + "," + b.y,
      fill: "none", stroke: color, "stroke-width": 2.5, "stroke-dasharray": e.security === "mutual_tls" ? "" : "7 5", "marker-end": "url(#arrow)" }, ge);
    el("text", { x: mx, y: (a.y + b.y) / 2 - 8, "text-anchor": "middle", class: "elabel" }, ge, edgeLabel(e));
    el("title", {}, ge, e.from + " → " + e.to + " (" + e.protocol + ", " + e.security + ")");
  }
  for (const n of g.nodes) {
    const p = pos.get(n.id);
    const gn = el("g", { class: "node " + n.kind + (selected === n.id ? " selected" : ""), "data-node": n.id, transform: "translate(" + p.x + "," + p.y + ")" }, svg);
    if (n.kind === "service") el("rect", { x: -34, y: -20, width: 68, height: 40, rx: 10 }, gn);
    else el("circle", { r: n.kind === "unknown" ? 18 : 24 }, gn);
    el("text", { y: 42, "text-anchor": "middle", class: "name" }, gn, n.name);
    el("text", { y: 57, "text-anchor": "middle", class: "ns" }, gn, n.namespace);
    gn.addEventListener("click", () => { selected = n.id; details(n); draw(last); });
  }
  const s = g.nodes.find((n) => n.id === selected);
  if (s) details(s);
}
function row(t, k, v) { const tr = t.insertRow(); tr.insertCell().textContent = k; tr.insertCell().textContent = v; }
function details(n) {
  const d = $("#details");
  d.innerHTML = "";
  const h = document.createElement("h2"); h.textContent = n.name + " (" + n.kind + ")"; d.appendChild(h);
  const t = document.createElement("table"); d.appendChild(t);
  row(t, "namespace", n.namespace || "-");
  if (n.identity) row(t, "identity", n.identity);
  if (n.certificateExpiry) row(t, "certificate expires", n.certificateExpiry);
  if (n.pods) row(t, "pods", n.pods.join(", "));
  if (n.nodes) row(t, "nodes", n.nodes.join(", "));
  if (n.versions && n.versions.length) row(t, "versions", n.versions.join(", "));
  if (n.addresses && n.addresses.length) row(t, "addresses", n.addresses.join(", "));
  row(t, "waypoint", n.waypoint || "none");
  if (n.policies) row(t, "policies", n.policies.length ? n.policies.map((p) => p.name + " (" + p.action + ", " + p.scope + ")").join("; ") : "none");
  const edges = (last ? last.graph.edges : []).filter((e) => e.from === n.id || e.to === n.id);
  for (const e of edges) row(t, e.from === n.id ? "→ " + e.to : "← " + e.from, e.protocol + ", " + e.security + (edgeLabel(e) ? ", " + edgeLabel(e) : ""));
}
async function poll() {
  try {
    const r = await fetch("/api/graph", { cache: "no-store" });
    if (r.ok) draw(await r.json()); else $("#status").textContent = "waiting for the first graph (" + r.status + ")";
  } catch (e) { $("#status").textContent = "dashboard unreachable: " + e.message; }
  setTimeout(poll, 3000);
}
poll();
`;

export const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>weft mesh graph</title>
<style>
body { font: 14px system-ui, sans-serif; margin: 0; display: flex; height: 100vh; color: #222; }
main { flex: 1; overflow: auto; padding: 12px; }
aside { width: 360px; border-left: 1px solid #ddd; padding: 12px; overflow: auto; background: #fafafa; }
h1 { font-size: 18px; margin: 0 0 4px; } h2 { font-size: 16px; }
#status { color: #555; } #problems { color: #b71c1c; white-space: pre-wrap; font-size: 12px; }
.node circle, .node rect { fill: #e3f2fd; stroke: #1565c0; stroke-width: 2; cursor: pointer; }
.node.service rect { fill: #ede7f6; stroke: #5e35b1; } .node.unknown circle { fill: #eee; stroke: #777; }
.node.selected circle, .node.selected rect { stroke-width: 4; }
.name { font-weight: 600; } .ns { fill: #666; font-size: 11px; } .elabel { font-size: 11px; fill: #333; }
.legend span { margin-right: 14px; } table { border-collapse: collapse; } td { padding: 3px 6px; vertical-align: top; border-bottom: 1px solid #eee; overflow-wrap: anywhere; }
</style></head>
<body><main>
<h1>weft mesh</h1><div id="status">loading…</div>
<div class="legend"><span style="color:#2e7d32">━ mTLS</span><span style="color:#ef6c00">┅ plaintext</span><span style="color:#c62828">━ denies or errors</span></div>
<pre id="problems"></pre>
<svg id="graph" xmlns="http://www.w3.org/2000/svg" width="800" height="400">
<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker></defs>
</svg>
</main><aside id="details"><h2>Select a node</h2><p>Click a workload or service for its identity, certificate and policies.</p></aside>
<script>${SCRIPT}</script>
</body></html>
`;
