/**
 * The L7 benchmark's pure parts: the nginx and haproxy configurations of its baselines and its
 * backend, and the parsers of the load generators' output (Debian's `wrk` for HTTP/1.1
 * throughput, nghttp2's `h2load` for HTTP/2 throughput and, with its per-request log, exact
 * latency percentiles for both protocols). Everything here is table-tested in
 * test/bench/l7-tools.test.ts; the IO is bench/waypoint.ts.
 */
import { type Result, ok, err } from "../../src/common/result.js";
import { type LatencySummary, summarize } from "../stats.js";

/** Ports every backend and proxy pod of the bench uses. */
export const PORTS = { backendH1: 8080, backendH2c: 8082, backendTls: 8443, proxyH1: 8081, proxyH2c: 8083 } as const;

/** One nginx process with one worker, no access log, long keep-alive; the `http {` block is left open. */
function nginxHead(dir: string, name: string, what: string): string {
  return `# weft bench nginx: ${what}
user root;
worker_processes 1;
pid ${dir}/${name}.pid;
error_log stderr warn;
events { worker_connections 8192; }
http {
  access_log off;
  keepalive_requests 10000000;
  keepalive_timeout 300s;
  client_body_temp_path ${dir}/${name}-body;`;
}

/** The backend: nginx answering a fixed 3-byte body on HTTP/1.1, h2c and TLS (HTTP/1.1 or h2 by ALPN). */
export function nginxBackendConf(dir: string, name: string, tls: { cert: string; key: string }): string {
  return `${nginxHead(dir, name, `backend (${name})`)}
  server {
    listen ${PORTS.backendH1} reuseport;
    listen ${PORTS.backendH2c} http2;
    listen ${PORTS.backendTls} ssl http2;
    ssl_certificate ${tls.cert};
    ssl_certificate_key ${tls.key};
    location / { default_type text/plain; return 200 "ok\\n"; }
  }
}
`;
}

export interface UpstreamTls {
  /** host:port of the backend's TLS port. */
  readonly address: string;
  readonly caCert: string;
  /** The name the backend's certificate carries (verified). */
  readonly serverName: string;
}

/** nginx as a one-hop L7 proxy: plaintext HTTP/1.1 and h2c in, HTTP/1.1 over verified TLS to the backend, kept alive. */
export function nginxProxyConf(dir: string, up: UpstreamTls): string {
  return `${nginxHead(dir, "nginx-proxy", "L7 hop")}
  proxy_temp_path ${dir}/nginx-proxy-temp;
  upstream backend { server ${up.address}; keepalive 128; keepalive_requests 10000000; }
  server {
    listen ${PORTS.proxyH1};
    listen ${PORTS.proxyH2c} http2;
    location / {
      proxy_pass https://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_ssl_verify on;
      proxy_ssl_trusted_certificate ${up.caCert};
      proxy_ssl_name ${up.serverName};
      proxy_ssl_server_name on;
      proxy_ssl_session_reuse on;
    }
  }
}
`;
}

/** haproxy as the same hop: one thread, HTTP/1.1 and h2c in, HTTP/1.1 over verified TLS out, connections reused. */
export function haproxyConf(up: UpstreamTls): string {
  return `# weft bench: haproxy L7 hop
global
  nbthread 1
  maxconn 4096
  log stderr format short local0 warning
defaults
  mode http
  log global
  option http-keep-alive
  timeout connect 5s
  timeout client 300s
  timeout server 300s
  timeout http-keep-alive 300s
frontend fe
  bind :${PORTS.proxyH1}
  bind :${PORTS.proxyH2c} proto h2
  default_backend be
backend be
  http-reuse always
  server backend ${up.address} ssl verify required ca-file ${up.caCert} verifyhost ${up.serverName} sni str(${up.serverName}) alpn http/1.1
`;
}

export interface LoadResult {
  readonly requests: number;
  readonly perSecond: number;
  /** Requests that failed or did not get a 2xx. */
  readonly failed: number;
}

const UNIT_US: Record<string, number> = { us: 1, ms: 1000, s: 1e6, m: 60e6 };

/** wrk's summary (`--latency` output accepted): requests, req/s, non-2xx and socket errors. */
export function parseWrk(out: string): Result<LoadResult & { p50Us?: number; p99Us?: number }> {
  const rps = /^Requests\/sec:\s+([\d.]+)/m.exec(out);
  const total = /^\s*(\d+) requests in /m.exec(out);
  if (!rps || !total) return err(new Error(`wrk: no summary in its output: ${out.trim().slice(-300)}`));
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const sockErrors = sock ? sock.slice(1).reduce((a, x) => a + Number(x), 0) : 0;
  const pct = (q: string): number | undefined => {
    const m = new RegExp(`^\\s+${q}%\\s+([\\d.]+)(us|ms|s|m)\\s*$`, "m").exec(out);
    return m ? Number(m[1]) * UNIT_US[m[2]!]! : undefined;
  };
  const p50 = pct("50");
  const p99 = pct("99");
  return ok({
    requests: Number(total[1]),
    perSecond: Number(rps[1]),
    failed: non2xx + sockErrors,
    ...(p50 !== undefined ? { p50Us: p50 } : {}),
    ...(p99 !== undefined ? { p99Us: p99 } : {}),
  });
}

/**
 * h2load's summary: `finished in ..., N req/s` and the request counters. h2load's own `failed`
 * (which includes `errored`) plus `timeout` are the failures; the status code counters are not
 * used for it: h2load counts a stream's status only when its HEADERS arrive in the measured
 * phase, while `done` and `succeeded` count the stream when it closes there. A response whose
 * HEADERS came in the warm-up and whose end came after it is done and succeeded with no status
 * counted (at most clients x streams such responses per run; a proxy that writes HEADERS and
 * DATA separately shows them, one that coalesces rarely does), so `done - 2xx` is not failures.
 */
export function parseH2load(out: string): Result<LoadResult> {
  const fin = /^finished in [\d.]+m?s, ([\d.]+) req\/s/m.exec(out);
  const req = /^requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/m.exec(out);
  if (!fin || !req) return err(new Error(`h2load: no summary in its output: ${out.trim().slice(-300)}`));
  return ok({ requests: Number(req[3]), perSecond: Number(fin[1]), failed: Number(req[5]) + Number(req[7]) });
}

/** h2load's request and status counter lines, verbatim, for a report of what failed. */
export function h2loadCounters(out: string): string {
  return out
    .split("\n")
    .filter((l) => /^(requests|status codes|traffic):/.test(l))
    .join("; ");
}

/**
 * h2load's `--log-file`: tab-separated start (us since epoch), status, duration (us); latencies of
 * 2xx answers. Status -1 is a stream that failed (reset, connection error); status 0 is a stream
 * h2load counted as succeeded whose HEADERS arrived during the warm-up (it records no status
 * then; see parseH2load): neither a failure nor a latency sample, since its status is unknown.
 */
export function parseH2loadLog(text: string): Result<LatencySummary & { failed: number }> {
  const lat: number[] = [];
  let failed = 0;
  for (const line of text.split("\n")) {
    if (!line.trim()) continue;
    const [, status, dur] = line.split("\t");
    const s = Number(status);
    const d = Number(dur);
    if (!Number.isFinite(s) || !Number.isFinite(d)) return err(new Error(`h2load log: bad line ${JSON.stringify(line)}`));
    if (s >= 200 && s < 300) lat.push(d);
    else if (s !== 0) failed++;
  }
  if (lat.length === 0) return err(new Error("h2load log: no successful request"));
  return ok({ ...summarize(lat), failed });
}

/**
 * The waypoint's own count of requests from its Prometheus text (`istio_requests_total`,
 * reporter waypoint): per destination service name, the requests and those that were not a 200
 * without flags, by `code flags`. The waypoint runs with Istio's default (no access log), so the
 * bench reads its metrics, as an Istio operator would.
 */
export function metricsOutcomes(text: string): Map<string, { requests: number; other: Map<string, number> }> {
  const out = new Map<string, { requests: number; other: Map<string, number> }>();
  for (const line of text.split("\n")) {
    const m = /^istio_requests_total\{([^}]*)\}\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels = new Map([...m[1]!.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1]!, x[2]!]));
    const n = Number(m[2]);
    if (!Number.isFinite(n) || n <= 0) continue;
    const svc = labels.get("destination_service_name") ?? "unknown";
    const o = out.get(svc) ?? { requests: 0, other: new Map<string, number>() };
    out.set(svc, o);
    o.requests += n;
    const code = labels.get("response_code") ?? "";
    const flags = labels.get("response_flags") ?? "-";
    if (code === "200" && flags === "-") continue;
    o.other.set(`${code} ${flags}`, (o.other.get(`${code} ${flags}`) ?? 0) + n);
  }
  return out;
}

export interface Row {
  readonly path: string;
  readonly h1?: LoadResult;
  readonly h2?: LoadResult;
  readonly h1Lat?: LatencySummary;
  readonly h2Lat?: LatencySummary;
  /** CPU-seconds of the row's L7 proxy process during the throughput phases (h1 + h2). */
  readonly proxyCpuS?: number;
  readonly error?: string;
}

const fx = (x: number | undefined, d = 0): string => (x === undefined || !Number.isFinite(x) ? "-" : x.toFixed(d));
const ratio = (a: number | undefined, b: number | undefined): string => (a && b ? `${(a / b).toFixed(2)}x` : "-");

/** The comparison table, ratios against direct, nginx and haproxy of the same run. */
export function renderRows(rows: readonly Row[]): string {
  const by = (p: string) => rows.find((r) => r.path === p);
  const direct = by("direct");
  const nginx = by("nginx");
  const haproxy = by("haproxy");
  const out: string[] = [
    "path                 h1 req/s  h2 req/s  h1 p50 us (+direct)  h1 p99 us (+direct)  h2 p50 us (+direct)  h2 p99 us (+direct)  h1 vs nginx/haproxy/direct  h2 vs nginx/haproxy/direct",
  ];
  for (const r of rows) {
    if (r.error) {
      out.push(`${r.path.padEnd(20)} not measured: ${r.error}`);
      continue;
    }
    const add = (v: number | undefined, base: number | undefined) =>
      `${fx(v).padStart(8)} (${v !== undefined && base !== undefined ? `+${fx(v - base)}` : "-"})`;
    out.push(
      [
        r.path.padEnd(20),
        fx(r.h1?.perSecond).padStart(8),
        fx(r.h2?.perSecond).padStart(9),
        add(r.h1Lat?.p50Us, direct?.h1Lat?.p50Us).padStart(20),
        add(r.h1Lat?.p99Us, direct?.h1Lat?.p99Us).padStart(20),
        add(r.h2Lat?.p50Us, direct?.h2Lat?.p50Us).padStart(20),
        add(r.h2Lat?.p99Us, direct?.h2Lat?.p99Us).padStart(20),
        `${ratio(r.h1?.perSecond, nginx?.h1?.perSecond)}/${ratio(r.h1?.perSecond, haproxy?.h1?.perSecond)}/${ratio(r.h1?.perSecond, direct?.h1?.perSecond)}`.padStart(
          28,
        ),
        `${ratio(r.h2?.perSecond, nginx?.h2?.perSecond)}/${ratio(r.h2?.perSecond, haproxy?.h2?.perSecond)}/${ratio(r.h2?.perSecond, direct?.h2?.perSecond)}`.padStart(
          28,
        ),
      ].join(" "),
    );
  }
  return out.join("\n");
}

/** Requests served per CPU-second of the row's proxy process (h1 + h2 throughput phases). */
export function perCore(r: Row): number | undefined {
  if (!r.proxyCpuS || !r.h1 || !r.h2) return undefined;
  return (r.h1.requests + r.h2.requests) / r.proxyCpuS;
}
