/**
 * The service graph, pure: nodes are workloads (pods grouped by namespace and workload name,
 * as Istio's `source_workload`/`destination_workload` labels name them), services and
 * `unknown` (a caller outside the mesh); edges carry what flowed in the window.
 *
 * Every connection is counted by two ztunnels (reporter `source` and `destination`) and every
 * request through a waypoint by the waypoint (reporter `waypoint`): per caller/service/callee
 * triple, one reporter is read (destination, else source; for requests: waypoint, else
 * destination, else source), so nothing is counted twice. A call through a service becomes two
 * edges, caller -> service and service -> callee, as in Kiali's workload graph.
 *
 * Edge figures: TCP connections opened per second, open connections, bytes per second, failed
 * connections, policy denies (response_flags DENY); HTTP/gRPC requests per second, error rate
 * (5xx, or a non-OK gRPC status), p99 latency from istio_request_duration_milliseconds
 * buckets, denies (403 with an RBAC/DENY flag); security from connection_security_policy.
 */
import type { Sample } from "./prom-text.js";
import type { Window } from "./window.js";
import { type Inventory, type InventoryWorkload, policiesFor } from "./inventory.js";
import { histogramQuantile } from "./quantile.js";

export type Security = "mutual_tls" | "plaintext" | "mixed";

export interface GraphNode {
  readonly id: string;
  readonly kind: "workload" | "service" | "unknown";
  readonly namespace: string;
  readonly name: string;
  readonly pods?: readonly string[];
  readonly nodes?: readonly string[];
  readonly identity?: string;
  readonly app?: string;
  readonly versions?: readonly string[];
  readonly waypoint?: string;
  readonly policies?: readonly { readonly name: string; readonly action: string; readonly scope: string }[];
  /** Earliest notAfter of the certificates held for this identity (ISO time). */
  readonly certificateExpiry?: string;
  readonly addresses?: readonly string[];
}

export interface EdgeFigures {
  connectionsPerSecond: number;
  openConnections: number;
  bytesPerSecond: number;
  failedConnections: number;
  requestsPerSecond: number;
  errorRate: number;
  p99Ms?: number;
  denies: number;
}

export interface GraphEdge extends EdgeFigures {
  readonly id: string;
  readonly from: string;
  readonly to: string;
  readonly protocol: "tcp" | "http" | "grpc";
  readonly security: Security;
}

export interface Graph {
  readonly windowSeconds: number;
  readonly nodes: readonly GraphNode[];
  readonly edges: readonly GraphEdge[];
}

const UNKNOWN = "unknown";
const TCP = "istio_tcp_";
const REQUESTS = "istio_requests_total";
const DURATION_BUCKET = "istio_request_duration_milliseconds_bucket";

const workloadId = (ns: string, name: string) => `wl:${ns}/${name}`;
const serviceId = (host: string) => `svc:${host}`;

interface Ends {
  readonly src: string;
  readonly svc?: string;
  readonly dst?: string;
}

function endsOf(l: Readonly<Record<string, string>>): Ends {
  const known = (v: string | undefined) => v !== undefined && v !== "" && v !== UNKNOWN;
  const src = known(l.source_workload) ? workloadId(l.source_workload_namespace ?? UNKNOWN, l.source_workload!) : UNKNOWN;
  const svc = known(l.destination_service) ? serviceId(l.destination_service!) : undefined;
  const dst = known(l.destination_workload) ? workloadId(l.destination_workload_namespace ?? UNKNOWN, l.destination_workload!) : undefined;
  return { src, ...(svc ? { svc } : {}), ...(dst ? { dst } : {}) };
}

const triple = (e: Ends) => `${e.src}|${e.svc ?? ""}|${e.dst ?? ""}`;

/** The segments a triple draws: caller -> service -> callee, or the parts that are known. */
function segments(e: Ends): [string, string][] {
  if (e.svc && e.dst)
    return [
      [e.src, e.svc],
      [e.svc, e.dst],
    ];
  if (e.svc) return [[e.src, e.svc]];
  if (e.dst) return [[e.src, e.dst]];
  return [];
}

interface Acc {
  f: EdgeFigures;
  protocol: "tcp" | "http" | "grpc";
  security: Set<string>;
  requests: number;
  errors: number;
  buckets: Map<number, number>;
}

const PREFERENCE: Record<string, readonly string[]> = {
  tcp: ["destination", "source"],
  http: ["waypoint", "destination", "source"],
};

/** Per triple, the reporter whose series are read (see the header). */
function chooseReporters(samples: readonly Sample[], kind: "tcp" | "http"): Map<string, string> {
  const seen = new Map<string, Set<string>>();
  for (const s of samples) {
    const t = triple(endsOf(s.labels));
    let r = seen.get(t);
    if (!r) seen.set(t, (r = new Set()));
    r.add(s.labels.reporter ?? "");
  }
  const out = new Map<string, string>();
  for (const [t, rs] of seen) {
    const pick = PREFERENCE[kind]!.find((p) => rs.has(p)) ?? [...rs][0] ?? "";
    out.set(t, pick);
  }
  return out;
}

export function buildGraph(w: Window, inv: Inventory): Graph {
  const nodes = new Map<string, GraphNode>();
  addInventoryNodes(nodes, inv);

  const tcpInc = w.increases.filter((s) => s.name.startsWith(TCP));
  const tcpCur = w.current.filter((s) => s.name.startsWith(TCP));
  const httpInc = w.increases.filter((s) => s.name === REQUESTS || s.name === DURATION_BUCKET);
  const tcpReporter = chooseReporters([...tcpInc, ...tcpCur], "tcp");
  const httpReporter = chooseReporters(httpInc, "http");
  const acc = new Map<string, Acc>();
  const accFor = (from: string, to: string): Acc => {
    const id = `${from}->${to}`;
    let a = acc.get(id);
    if (!a) {
      a = {
        f: {
          connectionsPerSecond: 0,
          openConnections: 0,
          bytesPerSecond: 0,
          failedConnections: 0,
          requestsPerSecond: 0,
          errorRate: 0,
          denies: 0,
        },
        protocol: "tcp",
        security: new Set(),
        requests: 0,
        errors: 0,
        buckets: new Map(),
      };
      acc.set(id, a);
    }
    return a;
  };
  const each = (samples: readonly Sample[], chosen: Map<string, string>, f: (a: Acc, s: Sample) => void) => {
    for (const s of samples) {
      const ends = endsOf(s.labels);
      if (chosen.get(triple(ends)) !== (s.labels.reporter ?? "")) continue;
      for (const [from, to] of segments(ends)) f(accFor(from, to), s);
    }
  };

  each(tcpInc, tcpReporter, (a, s) => {
    const secure = s.labels.connection_security_policy;
    if (s.name === "istio_tcp_connections_opened_total") {
      a.f.connectionsPerSecond += s.value / w.seconds;
      a.security.add(secure ?? UNKNOWN);
    } else if (s.name === "istio_tcp_sent_bytes_total" || s.name === "istio_tcp_received_bytes_total")
      a.f.bytesPerSecond += s.value / w.seconds;
    else if (s.name === "istio_tcp_connections_failed_total") {
      a.f.failedConnections += s.value;
      if ((s.labels.response_flags ?? "").includes("DENY")) a.f.denies += s.value;
    }
  });
  each(tcpCur, tcpReporter, (a, s) => {
    if (s.name === "istio_tcp_connections_opened_total") a.f.openConnections += s.value;
    else if (s.name === "istio_tcp_connections_closed_total") a.f.openConnections -= s.value;
  });
  each(httpInc, httpReporter, (a, s) => {
    if (s.name === DURATION_BUCKET) {
      const le = s.labels.le === "+Inf" ? Infinity : Number(s.labels.le);
      if (!Number.isNaN(le)) a.buckets.set(le, (a.buckets.get(le) ?? 0) + s.value);
      return;
    }
    const grpc = s.labels.request_protocol === "grpc";
    a.protocol = grpc ? "grpc" : "http";
    a.security.add(s.labels.connection_security_policy ?? UNKNOWN);
    a.requests += s.value;
    const code = Number(s.labels.response_code);
    const grpcStatus = s.labels.grpc_response_status ?? "";
    if (code >= 500 || (grpc && grpcStatus !== "" && grpcStatus !== "0" && grpcStatus !== UNKNOWN)) a.errors += s.value;
    const flags = s.labels.response_flags ?? "";
    if (code === 403 && /RBAC|DENY/.test(flags)) a.f.denies += s.value;
  });

  const edges: GraphEdge[] = [];
  for (const [id, a] of acc) {
    a.f.openConnections = Math.max(0, a.f.openConnections);
    a.f.requestsPerSecond = a.requests / w.seconds;
    a.f.errorRate = a.requests > 0 ? a.errors / a.requests : 0;
    const p99 = histogramQuantile(0.99, a.buckets);
    if (p99 !== undefined) a.f.p99Ms = p99;
    const f = a.f;
    if (
      f.connectionsPerSecond === 0 &&
      f.openConnections === 0 &&
      f.requestsPerSecond === 0 &&
      f.failedConnections === 0 &&
      f.bytesPerSecond === 0
    )
      continue;
    const [from, to] = id.split("->") as [string, string];
    edges.push({ id, from, to, protocol: a.protocol, security: securityOf(a.security), ...f });
    for (const n of [from, to]) if (!nodes.has(n)) nodes.set(n, nodeFromId(n));
  }
  edges.sort((x, y) => x.id.localeCompare(y.id));
  return { windowSeconds: w.seconds, nodes: [...nodes.values()].sort((x, y) => x.id.localeCompare(y.id)), edges };
}

function securityOf(seen: Set<string>): Security {
  const mtls = seen.has("mutual_tls");
  const other = [...seen].some((s) => s !== "mutual_tls");
  return mtls && other ? "mixed" : mtls ? "mutual_tls" : "plaintext";
}

function nodeFromId(id: string): GraphNode {
  if (id.startsWith("svc:")) {
    const host = id.slice(4);
    return { id, kind: "service", namespace: host.split(".")[1] ?? "", name: host.split(".")[0] ?? host };
  }
  if (id.startsWith("wl:")) {
    const [ns = "", name = ""] = id.slice(3).split("/");
    return { id, kind: "workload", namespace: ns, name };
  }
  return { id, kind: "unknown", namespace: "", name: id };
}

function addInventoryNodes(nodes: Map<string, GraphNode>, inv: Inventory): void {
  const groups = new Map<string, InventoryWorkload[]>();
  for (const w of inv.workloads) {
    const id = workloadId(w.namespace, w.workloadName);
    groups.set(id, [...(groups.get(id) ?? []), w]);
  }
  for (const [id, ws] of groups) {
    const first = ws[0]!;
    const expiries = inv.certificates
      .filter((c) => c.identity === first.identity && c.notAfter)
      .map((c) => c.notAfter!)
      .sort();
    const policies = new Map<string, { name: string; action: string; scope: string }>();
    for (const w of ws)
      for (const p of policiesFor(w, inv.policies))
        policies.set(`${p.namespace}/${p.name}`, { name: `${p.namespace}/${p.name}`, action: p.action, scope: p.scope });
    nodes.set(id, {
      id,
      kind: "workload",
      namespace: first.namespace,
      name: first.workloadName,
      pods: ws.map((w) => w.pod).sort(),
      nodes: [...new Set(ws.map((w) => w.node))].sort(),
      identity: first.identity,
      app: first.app,
      versions: [...new Set(ws.map((w) => w.version).filter((v) => v))].sort(),
      addresses: ws.flatMap((w) => w.addresses),
      policies: [...policies.values()],
      ...(first.waypoint ? { waypoint: first.waypoint } : {}),
      ...(expiries[0] ? { certificateExpiry: expiries[0] } : {}),
    });
  }
  for (const s of inv.services) {
    const id = serviceId(s.hostname);
    nodes.set(id, {
      id,
      kind: "service",
      namespace: s.namespace,
      name: s.name,
      addresses: s.addresses,
      ...(s.waypoint ? { waypoint: s.waypoint } : {}),
    });
  }
}
