/**
 * One HTTP request through the waypoint, for HTTP/1.1 and HTTP/2 downstreams alike (the HTTP/2
 * stream wrapped in downstream-h2.ts has IncomingMessage / ServerResponse's shape): decide (route/decide.ts), then answer
 * locally or forward to the chosen endpoint over a reused upstream connection of the protocol
 * the cluster's HttpProtocolOptions choose (HTTP/1.1 by default, HTTP/2, or the downstream's),
 * streaming both bodies and relaying trailers (gRPC); fire the mirrors; record one access log
 * entry and Istio's metrics when the exchange is over.
 * Failures map to statuses and response flags only through errors.ts.
 */
import { PassThrough } from "node:stream";
import { logger } from "../../common/log.js";
import { formatAddress } from "../../common/net/addr.js";
import { toUri } from "../../common/spiffe.js";
import { type Workload, workloadIdentityUri } from "../../common/model/workload.js";
import type { Endpoint, HeaderMutations, RouteTable } from "../envoy/types.js";
import { type Decision, type Upstream, decide } from "../route/decide.js";
import { isGrpc } from "../route/match.js";
import type { RequestFacts } from "../route/request.js";
import { type HeaderMap, mutateHeaders } from "../route/rewrite.js";
import type { RequestTelemetry } from "../telemetry/labels.js";
import { type AccessLogEntry, isoTime } from "../telemetry/access-log.js";
import { FAULT_ABORT_BODY, decideFault, grpcLocalReply, grpcStatusOfHttp } from "../resilience/fault.js";
import { RATE_LIMITED_BODY } from "../resilience/rate-limit.js";
import { requestTimeouts } from "../resilience/timeout.js";
import { type AuthzStep, NO_AUTHZ, authorizeRequest, authzLogFields, withAuthzResponseHeaders } from "./authz-step.js";
import type { DownstreamRequest, DownstreamResponse, ProxyRuntime, TunnelContext } from "./context.js";
import { type ProxyFailure, failureResponse } from "./errors.js";
import { endToEnd, h1RequestHeaders, headerBytes } from "./hop.js";
import { sendsBody } from "./request-body.js";
import { propagate } from "./trace.js";
import { spanOf } from "../telemetry/span.js";
import { admitUpstream, closedPromise, outcomeOf } from "./admission.js";
import type { Outcome } from "../upstream/cluster-policies.js";
import { h2Request, sendUpstream, upstreamH2 } from "./upstream-request.js";
import { H2Response } from "./downstream-h2.js";

const log = logger("waypoint.forward");

export type { DownstreamRequest, DownstreamResponse } from "./context.js";

/** Mirrors get at most this much request body; a longer body stops the mirror (best effort). */
export const MIRROR_BODY_LIMIT = 1 << 20;

export function routeTableOf(rt: ProxyRuntime, ctx: TunnelContext): RouteTable | undefined {
  const f = ctx.listener.filter;
  if (f.kind !== "http") return undefined;
  return f.routes.kind === "inline" ? f.routes.table : rt.l7.routeTable(f.routes.name);
}

export function requestFacts(req: DownstreamRequest, sourceIp?: string): RequestFacts {
  const h = req.headers as Record<string, string | string[] | undefined>;
  return {
    method: req.method ?? "GET",
    authority: String(h[":authority"] ?? h["host"] ?? ""),
    path: req.url ?? "/",
    scheme: "http",
    headers: h,
    ...(sourceIp !== undefined ? { sourceIp } : {}),
  };
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** Per-request bookkeeping for telemetry (also used by upgrade.ts). */
export class Exchange {
  readonly start = Date.now();
  requestBytes = 0;
  responseBytes = 0;
  status = 0;
  flags = "";
  details = "via_upstream";
  grpcStatus: string | undefined;
  upstream: Upstream | undefined;
  upstreamPath: string | undefined;
  upstreamStart = 0;
  upstreamTime: number | undefined;
  requestId = "";
  traceparent: string | undefined;
  parentSpanId: string | undefined;
  routeName = "";
  /** The HTTP filters' (JWT, RBAC) report, for the access log. */
  authz: AuthzStep | undefined;
  /** The decided route's header mutation levels (innermost first). */
  levels: readonly HeaderMutations[] = [];
  /** A generated hash-policy cookie for the response. */
  setCookie: string | undefined;
  /** Ends the upstream attempt in the cluster's policies (circuit breaker slot, outlier outcome). */
  upstreamDone: ((o: Outcome | undefined, at?: Endpoint) => void) | undefined;
  private done = false;

  constructor(
    readonly rt: ProxyRuntime,
    readonly ctx: TunnelContext,
    readonly facts: RequestFacts,
    readonly protocol: string,
  ) {}

  finish(): void {
    if (this.done) return;
    this.done = true;
    // The outcome counts for the endpoint of the last attempt (retries may have moved on).
    this.upstreamDone?.(outcomeOf(this.status, this.flags), this.upstream?.endpoint);
    const rt = this.rt;
    const ep = this.upstream?.endpoint;
    const destination = ep ? rt.state.workloadByAddress(rt.network, ep.ip) : undefined;
    const grpc = isGrpc(String(this.facts.headers["content-type"] ?? ""));
    // By assignment, one shape whatever is set (spreads of optional fields cost an object each).
    const telemetry: Mutable<RequestTelemetry> = {
      sourceIdentity: this.ctx.peer,
      protocol: grpc ? "grpc" : "http",
      status: this.status,
      flags: this.flags,
    };
    if (this.ctx.source) telemetry.source = this.ctx.source;
    if (this.upstream) {
      telemetry.cluster = this.upstream.cluster;
      telemetry.endpoint = this.upstream.endpoint;
    }
    if (destination) telemetry.destination = destination;
    if (this.grpcStatus !== undefined) telemetry.grpcStatus = this.grpcStatus;
    const duration = Date.now() - this.start;
    rt.metrics.requestOn(this.ctx, telemetry, duration, this.requestBytes, this.responseBytes);
    reportSpanOf(this, duration);
    // No HCM access_log (Istio's default): no entry is built at all.
    const to = this.ctx.listener.filter.kind === "http" ? this.ctx.listener.filter.accessLog : undefined;
    if (!to) return;
    // Built by assignment in the log's field order (no object spread per optional field, ~25 per request).
    const ua = this.facts.headers["user-agent"];
    // (The required fields follow below, before the entry is handed on.)
    const e = {
      start_time: isoTime(this.start),
      method: this.facts.method,
      path: this.facts.path,
    } as Mutable<AccessLogEntry>;
    if (this.upstreamPath !== undefined) e.upstream_path = this.upstreamPath;
    e.protocol = this.protocol;
    e.response_code = this.status;
    e.response_flags = this.flags || "-";
    e.response_code_details = this.details;
    e.bytes_received = this.requestBytes;
    e.bytes_sent = this.responseBytes;
    e.duration = duration;
    if (this.upstreamTime !== undefined) e.upstream_service_time = this.upstreamTime;
    if (typeof ua === "string") e.user_agent = ua;
    e.request_id = this.requestId;
    e.authority = this.facts.authority;
    if (ep) {
      e.upstream_host = endpointText(ep);
      e.upstream_cluster = this.upstream!.cluster.name;
    }
    e.route_name = this.routeName;
    const t = tunnelText(this.ctx);
    e.downstream_local_address = t.local;
    e.downstream_remote_address = t.remote;
    e.downstream_peer_principal = t.peer;
    if (destination) e.upstream_peer_principal = workloadUri(destination);
    if (this.grpcStatus !== undefined) e.grpc_status = this.grpcStatus;
    if (this.traceparent) e.traceparent = this.traceparent;
    const report = this.authz && "report" in this.authz ? this.authz.report : undefined;
    rt.accessLog(report ? Object.assign(e, authzLogFields(report)) : e, to);
  }
}

/** A tunnel's access log strings, computed once per tunnel (its addresses and peer are fixed). */
const tunnelTexts = new WeakMap<TunnelContext, { readonly local: string; readonly remote: string; readonly peer: string }>();

function tunnelText(ctx: TunnelContext): { readonly local: string; readonly remote: string; readonly peer: string } {
  let t = tunnelTexts.get(ctx);
  if (!t) tunnelTexts.set(ctx, (t = { local: formatAddress(ctx.target), remote: formatAddress(ctx.client), peer: toUri(ctx.peer) }));
  return t;
}

/** An endpoint's `ip:port` (endpoints are immutable values of the decoded config, shared by requests). */
const endpointTexts = new WeakMap<Endpoint, string>();

function endpointText(ep: Endpoint): string {
  let t = endpointTexts.get(ep);
  if (t === undefined) endpointTexts.set(ep, (t = formatAddress(ep)));
  return t;
}

/** A workload's SPIFFE URI (workloads are immutable values of the Address state). */
const workloadUris = new WeakMap<Workload, string>();

function workloadUri(w: Workload): string {
  let u = workloadUris.get(w);
  if (u === undefined) workloadUris.set(w, (u = workloadIdentityUri(w)));
  return u;
}

/** Sends the hop's span when the listener traces and the hop was sampled (telemetry/span.ts). */
function reportSpanOf(x: Exchange, duration: number): void {
  const tracing = x.ctx.listener.filter.kind === "http" ? x.ctx.listener.filter.tracing : undefined;
  if (!tracing || !x.rt.spans) return;
  const ua = x.facts.headers["user-agent"];
  const ep = x.upstream?.endpoint;
  const span = spanOf({
    traceparent: x.traceparent,
    ...(x.parentSpanId ? { parentSpanId: x.parentSpanId } : {}),
    method: x.facts.method,
    authority: x.facts.authority,
    path: x.facts.path,
    protocol: x.protocol,
    status: x.status,
    ...(x.grpcStatus !== undefined ? { grpcStatus: x.grpcStatus } : {}),
    flags: x.flags,
    requestId: x.requestId,
    startMs: x.start,
    endMs: x.start + duration,
    ...(x.upstream ? { upstreamCluster: x.upstream.cluster.name } : {}),
    ...(ep ? { upstreamHost: formatAddress(ep) } : {}),
    peerAddress: x.ctx.client.ip,
    ...(typeof ua === "string" ? { userAgent: ua } : {}),
    canonicalService: x.rt.self?.name ?? "",
    namespace: x.rt.self?.namespace ?? "",
    requestBytes: x.requestBytes,
    responseBytes: x.responseBytes,
  });
  if (span) x.rt.spans.record(span, tracing);
}

/** Handles one request; never throws (every failure becomes a response or a reset). */
export async function handleRequest(
  rt: ProxyRuntime,
  ctx: TunnelContext,
  req: DownstreamRequest,
  res: DownstreamResponse,
  h2: boolean,
): Promise<void> {
  const x = new Exchange(rt, ctx, requestFacts(req, ctx.client.ip), h2 ? "HTTP/2" : `HTTP/${req.httpVersion}`);
  x.requestBytes = headerBytes(req.headers as Record<string, string>);
  req.on("data", (c: Buffer) => (x.requestBytes += c.length));
  // No body byte may flow before the upstream (or a mirror) is attached: pipe() resumes.
  req.pause();
  res.once("close", () => {
    if (x.status === 0 && res.writableFinished) x.status = res.statusCode;
    if (!res.writableFinished && x.status === 0) {
      x.flags ||= "DC";
      x.details = "downstream_remote_disconnect";
    }
    x.finish();
  });
  try {
    await route(x, req, res, h2);
  } catch (e) {
    // A bug in the request path must not take the waypoint (an unhandled rejection ends the
    // process) or leave the client waiting: the request is answered 500, or reset once its head is out.
    log.error({ err: e, route: x.routeName }, "request path failed");
    failInternal(x, req, res);
  }
}

/** The filters, the route decision and the answer: local, or forwarded upstream. */
async function route(x: Exchange, req: DownstreamRequest, res: DownstreamResponse, h2: boolean): Promise<void> {
  const { rt, ctx } = x;
  let facts = x.facts;
  // The HTTP filters before the router (JWT, RBAC) may answer, or change headers routing sees.
  const authz = authorizeRequest(rt, ctx, facts, req);
  x.authz = authz instanceof Promise ? await authz : authz;
  if (x.authz.kind === "deny") return respondDenied(x, req, res, x.authz);
  // The filters may have set or removed headers; without any (NO_AUTHZ) the facts stand.
  if (x.authz !== NO_AUTHZ) facts = requestFacts(req, ctx.client.ip);
  const d = decide(
    { view: rt.l7, endpoints: rt.clusters, random: rt.random, originalDestination: ctx.target },
    routeTableOf(rt, ctx),
    facts,
  );
  x.routeName = d.routeName;
  x.requestId = String(facts.headers["x-request-id"] ?? "");
  // The listener's filters before the router, in its order (Istio's chain: fault first).
  const chain = ctx.listener.filter.kind === "http" ? ctx.listener.filter.filterOrder : [];
  for (const step of chain) {
    if (step === "fault" && d.fault) {
      const f = decideFault(d.fault, rt.random);
      if (f.delayMs > 0) {
        x.flags = "DI";
        await new Promise((resolve) => setTimeout(resolve, f.delayMs).unref());
        if (res.writableEnded || res.destroyed) return;
      }
      if (f.abort) {
        x.flags = x.flags ? `${x.flags},FI` : "FI";
        x.details = "fault_filter_abort";
        req.resume();
        return localReply(x, res, f.abort.httpStatus ?? 200, FAULT_ABORT_BODY, f.abort.grpcStatus);
      }
    }
    if (step === "rate_limit" && d.rateLimit) {
      const r = rt.rateLimits.decide(d.rateLimit, Date.now(), rt.random);
      if (r.kind === "limit") {
        x.flags = x.flags ? `${x.flags},RL` : "RL";
        x.details = "local_rate_limited";
        req.resume();
        return localReply(x, res, r.status, RATE_LIMITED_BODY, undefined, r.headers);
      }
    }
  }
  if (d.kind === "respond") return respondLocally(x, req, res, d);
  await forward(x, req, res, d, h2);
}

function respondLocally(x: Exchange, req: DownstreamRequest, res: DownstreamResponse, d: Extract<Decision, { kind: "respond" }>): void {
  const f = d.flags ? failureResponse(d.flags as ProxyFailure, d.reason) : undefined;
  const body = d.body ?? f?.body ?? "";
  const headers = withAuthzResponseHeaders(
    x.authz,
    mutateHeaders(
      {
        ...(d.location ? { location: d.location } : {}),
        ...(body ? { "content-type": "text/plain" } : {}),
        "content-length": String(Buffer.byteLength(body)),
      },
      d.responseLevels,
      "response",
    ),
  );
  x.status = d.status;
  x.flags = [x.flags, d.flags].filter(Boolean).join(",");
  x.details = f?.details ?? (d.location ? "redirect" : "direct_response");
  if (d.cluster && !x.upstream) log.debug({ cluster: d.cluster.name, reason: d.reason }, "local reply");
  req.resume();
  x.responseBytes = headerBytes(headers) + Buffer.byteLength(body);
  sendHead(res, d.status, headers);
  res.end(body);
}

/**
 * A 401/403 from the HTTP filters: Envoy's body and details, no response flag (Envoy sets none).
 * A gRPC request gets Envoy's gRPC local reply: trailers-only, 200, grpc-status 16 (401) or 7 (403).
 */
function respondDenied(x: Exchange, req: DownstreamRequest, res: DownstreamResponse, a: Extract<AuthzStep, { kind: "deny" }>): void {
  x.details = a.details;
  req.resume();
  if (isGrpc(String(x.facts.headers["content-type"] ?? "")) && "stream" in res) {
    // Envoy's gRPC local reply maps the HTTP status: 401 -> 16, 403 -> 7, 413 -> 2, an authorizer's 429/503 -> 14, ...
    const headers = {
      "content-type": "application/grpc",
      "grpc-status": String(grpcStatusOfHttp(a.status)),
      "grpc-message": grpcMessage(a.body),
      ...a.headers,
    };
    x.status = 200;
    x.grpcStatus = headers["grpc-status"];
    x.responseBytes = headerBytes(headers);
    res.stream.respond({ ":status": 200, ...headers }, { endStream: true });
    return;
  }
  const headers = { ...a.headers, "content-type": "text/plain", "content-length": String(Buffer.byteLength(a.body)) };
  x.status = a.status;
  x.responseBytes = headerBytes(headers) + Buffer.byteLength(a.body);
  sendHead(res, a.status, headers);
  res.end(a.body);
}

/** gRPC's grpc-message encoding: percent-encode `%` and bytes outside printable ASCII. */
function grpcMessage(text: string): string {
  return [...Buffer.from(text)]
    .map((b) => (b < 0x20 || b > 0x7e || b === 0x25 ? `%${b.toString(16).toUpperCase().padStart(2, "0")}` : String.fromCharCode(b)))
    .join("");
}

/** The head of a local answer (an HTTP/2 head takes `headers` as its header block: count them first). */
function sendHead(res: DownstreamResponse, status: number, headers: HeaderMap): void {
  if (res instanceof H2Response) res.writeHead(status, headers);
  else res.writeHead(status, headers);
}

function failLate(x: Exchange, req: DownstreamRequest, res: DownstreamResponse, kind: ProxyFailure, reason: string): void {
  const f = failureResponse(kind, reason);
  x.flags = x.flags ? `${x.flags},${f.flags}` : f.flags;
  x.details = f.details;
  log.info(
    { route: x.routeName, upstream: x.upstream && formatAddress(x.upstream.endpoint), flags: f.flags, reason },
    "upstream request failed",
  );
  if (res.headersSent) {
    x.status ||= f.status;
    res.destroy();
    return;
  }
  req.resume();
  localReply(x, res, f.status, f.body);
}

/** After an exception in the request path: 500 (Envoy's internal error has no response flag), or a reset once the head went out. */
function failInternal(x: Exchange, req: DownstreamRequest, res: DownstreamResponse): void {
  x.details = "internal_error";
  if (res.headersSent || res.destroyed) {
    x.status ||= 500;
    res.destroy();
    return;
  }
  req.resume();
  localReply(x, res, 500, "");
}

/** A local answer; to a gRPC request, Envoy's form: trailers-only, grpc-status from the HTTP status (or given). */
function localReply(
  x: Exchange,
  res: DownstreamResponse,
  status: number,
  body: string,
  grpcStatus?: number,
  extra: Readonly<Record<string, string>> = {},
): void {
  if (isGrpc(String(x.facts.headers["content-type"] ?? "")) && "stream" in res) {
    const g = grpcStatus ?? grpcStatusOfHttp(status);
    const h = withAuthzResponseHeaders(x.authz, { ...grpcLocalReply(g, body), ...extra });
    x.status = 200;
    x.grpcStatus = String(g);
    x.responseBytes = headerBytes(h as Record<string, string>);
    res.stream.respond(h, { endStream: true });
    return;
  }
  const headers = withAuthzResponseHeaders(x.authz, {
    ...extra,
    "content-type": "text/plain",
    "content-length": String(Buffer.byteLength(body)),
  });
  x.status = status;
  x.responseBytes = headerBytes(headers) + Buffer.byteLength(body);
  sendHead(res, status, headers);
  res.end(body);
}

async function forward(
  x: Exchange,
  req: DownstreamRequest,
  res: DownstreamResponse,
  d: Extract<Decision, { kind: "forward" }>,
  h2: boolean,
): Promise<void> {
  const { rt, ctx } = x;
  x.upstream = d.upstream;
  x.upstreamPath = d.path;
  x.levels = d.levels;
  x.setCookie = d.setCookie;
  // Admitted at once (the common case), the answer is synchronous: no await, no microtask.
  const admission = admitUpstream(rt, d.upstream, !h2, () => closedPromise(res));
  const admitted = admission instanceof Promise ? await admission : admission;
  // A client that left while its request was pending is logged as DC by the close handler.
  if (!admitted.ok) return admitted.gone ? undefined : failLate(x, req, res, "UO", admitted.reason);
  x.upstreamDone = admitted.done;
  const tracing = ctx.listener.filter.kind === "http" ? ctx.listener.filter.tracing : undefined;
  const start = tracing ? { sampled: rt.random() * 100 < tracing.samplingPercent } : undefined;
  const traced = propagate(mutateHeaders(endToEnd(req.headers), d.levels, "request"), rt.ids, start);
  const headers = traced.headers;
  headers["x-forwarded-proto"] ??= "http";
  x.requestId = traced.requestId;
  if (traced.traceparent) x.traceparent = traced.traceparent;
  if (traced.parentSpanId) x.parentSpanId = traced.parentSpanId;
  const bodyPrefix = x.authz?.kind === "pass" ? x.authz.bodyPrefix : undefined;
  for (const m of d.mirrors) mirror(rt, ctx, req, m, d, headers, h2, bodyPrefix);
  const grpc = isGrpc(String(req.headers["content-type"] ?? ""));
  const timeouts = requestTimeouts(
    { timeoutMs: d.timeoutMs, maxGrpcTimeoutMs: d.maxGrpcTimeoutMs, perTryTimeoutMs: d.retry?.perTryTimeoutMs },
    grpc,
    req.headers,
  );
  await sendUpstream({
    x,
    rt,
    ctx,
    req,
    res,
    h2,
    d,
    headers,
    timeouts,
    ...(bodyPrefix ? { bodyPrefix } : {}),
    fail: (kind, reason) => failLate(x, req, res, kind, reason),
  });
}

/** Request mirroring: a copy to the mirror cluster with `-shadow` on the authority; its response is discarded. */
function mirror(
  rt: ProxyRuntime,
  ctx: TunnelContext,
  req: DownstreamRequest,
  m: Upstream,
  d: Extract<Decision, { kind: "forward" }>,
  headers: HeaderMap,
  h2: boolean,
  bodyPrefix: readonly Buffer[] = [],
): void {
  const ep = m.endpoint;
  const workload = rt.state.workloadByAddress(rt.network, ep.ip);
  const key = `${m.cluster.name}|${formatAddress(ep)}|${ctx.client.ip}`;
  const open = () => rt.openTunnel(ep, workload, ctx.client, m.cluster.service?.host);
  const authority = shadowAuthority(d.authority);
  const feed = (w: NodeJS.WritableStream & { writableLength: number; writableEnded: boolean; destroy(): void }) => {
    // An HTTP/2 mirror stream for a bodiless request is ended by request() itself: a second end() would build an
    // ERR_STREAM_ALREADY_FINISHED per mirrored request (the replay path's fix, resilience/replay-body.ts).
    const end = () => {
      if (!w.writableEnded) w.end();
    };
    const onData = (c: Buffer) => {
      if (w.writableLength > MIRROR_BODY_LIMIT) {
        req.off("data", onData);
        w.destroy();
        return;
      }
      w.write(c);
    };
    for (const c of bodyPrefix) w.write(c);
    req.on("data", onData);
    if (req.readableEnded) end();
    else req.once("end", end);
  };
  if (upstreamH2(m.cluster, h2)) {
    void rt.upstreams.session(key, open, m.cluster).then((s) => {
      if (!s.ok) return log.debug({ err: s.error.message, cluster: m.cluster.name }, "mirror connect failed");
      try {
        const st = h2Request(s.value, headers, req.method ?? "GET", d.path, authority, sendsBody(req, bodyPrefix));
        st.on("error", () => {});
        st.resume();
        feed(st);
      } catch (e) {
        log.debug({ err: e }, "mirror request failed");
      }
    });
    return;
  }
  // The mirror's answer is read and dropped; undici's pool is the request path's (upstream.ts).
  const sink = sendsBody(req, bodyPrefix) ? new PassThrough() : null;
  const fail = (e: Error) => log.debug({ err: e.message, cluster: m.cluster.name }, "mirror request failed");
  rt.upstreams.pool(key, open, m.cluster).dispatch(
    { method: req.method ?? "GET", path: d.path, headers: h1RequestHeaders(headers, authority), body: sink },
    {
      onRequestStart: () => {},
      onResponseStart: () => {},
      onResponseData: () => {},
      onResponseEnd: () => {},
      onResponseError: (_c, e) => fail(e),
    },
  );
  if (sink) feed(sink);
}

/** Envoy's shadow host: `-shadow` appended to the host, before any port. */
export function shadowAuthority(authority: string): string {
  const m = /^(.*?)(:\d+)?$/.exec(authority);
  return `${m?.[1] ?? authority}-shadow${m?.[2] ?? ""}`;
}
