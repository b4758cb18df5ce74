/**
 * The upstream side of one forwarded request, with Envoy's router semantics for timeouts and
 * retries: each attempt goes to an endpoint over a reused connection of the downstream's
 * protocol; its outcome (response head, or a failure before any response) is judged by the
 * route's retry policy (resilience/retry.ts); a retriable outcome is discarded and the request
 * sent again, after the back-off, to another endpoint when `previous_hosts` asks for it, as long
 * as attempts are left, the body is replayable (resilience/replay-body.ts), nothing went
 * downstream and the cluster's circuit breaker admits it (max_retries, or the retry budget; an
 * overflow returns the outcome in hand flagged UO, as Envoy). During the back-off the request
 * holds no max_requests slot; the retry is admitted again like a new request (503 UO on
 * overflow, as Envoy's pool overflow). Otherwise the outcome is committed:
 * headers, body and trailers are relayed (gRPC trailers-only answers stay trailers-only).
 *
 * Timeouts (resilience/timeout.ts) start when the downstream request is complete: the global
 * one covers every attempt and back-off and answers 504 UT; a per-try timeout ends one attempt
 * (retriable under 5xx / gateway-error / reset). Exhausted retries add URX to the flags.
 */
import type http from "node:http";
import http2 from "node:http2";
import { PassThrough } from "node:stream";
import type { Dispatcher } from "undici";
import { formatAddress } from "../../common/net/addr.js";
import type { Cluster, Endpoint, HeaderMutations } from "../envoy/types.js";
import type { Decision, Upstream } from "../route/decide.js";
import { type HeaderMap, mutateHeaders } from "../route/rewrite.js";
import { ReplayBody } from "../resilience/replay-body.js";
import { type AttemptOutcome, backoffMs, isRetriable, retryEndpoint } from "../resilience/retry.js";
import type { Timeouts } from "../resilience/timeout.js";
import type { DownstreamRequest, DownstreamResponse, ProxyRuntime, TunnelContext } from "./context.js";
import { admitUpstream, closedPromise, outcomeOf } from "./admission.js";
import { type AuthzStep, withAuthzResponseHeaders } from "./authz-step.js";
import { type ProxyFailure, classifyUpstreamError } from "./errors.js";
import { announcesTrailers, endToEnd, h1RequestHeaders, headerBytes, joinRepeated } from "./hop.js";
import { sendsBody } from "./request-body.js";
import { ConnectFailure } from "./upstream.js";
import { H2Response } from "./downstream-h2.js";
import type { RetryGrant } from "../upstream/circuit-breaker.js";
import type { Outcome } from "../upstream/cluster-policies.js";

/** What the upstream side records for telemetry (forward.ts's Exchange). */
export interface UpstreamRecord {
  upstream: Upstream | undefined;
  /** Ends the current attempt's admission (circuit breaker slot, outlier outcome); replaced on each retry. */
  upstreamDone: ((o: Outcome | undefined, at?: Endpoint) => void) | undefined;
  status: number;
  flags: string;
  details: string;
  grpcStatus: string | undefined;
  responseBytes: number;
  upstreamStart: number;
  upstreamTime: number | undefined;
  readonly levels: readonly HeaderMutations[];
  /** A generated hash-policy cookie for the response. */
  readonly setCookie: string | undefined;
  /** The HTTP filters' outcome: an ext_authz allow may add headers to the response. */
  readonly authz?: AuthzStep | undefined;
}

export interface UpstreamPlan {
  readonly x: UpstreamRecord;
  readonly rt: ProxyRuntime;
  readonly ctx: TunnelContext;
  readonly req: DownstreamRequest;
  readonly res: DownstreamResponse;
  /** The downstream is HTTP/2 (the upstream's protocol comes from the cluster: upstreamH2). */
  readonly h2: boolean;
  readonly d: Extract<Decision, { kind: "forward" }>;
  /** End-to-end request headers to send (mutated, traced). */
  readonly headers: HeaderMap;
  readonly timeouts: Timeouts;
  /** Answers the downstream with a proxy failure (forward.ts failLate). */
  readonly fail: (kind: ProxyFailure, reason: string) => void;
  /** Body bytes an earlier filter read off `req` (ext_authz with_request_body): sent first. */
  readonly bodyPrefix?: readonly Buffer[];
}

type Head = { readonly status: number; readonly headers: http.IncomingHttpHeaders; readonly endStream: boolean };
type Settled =
  | { readonly ok: true; readonly head: Head }
  | { readonly ok: false; readonly outcome: Extract<AttemptOutcome, { kind: "failure" }>; readonly reason: string };

interface Attempt {
  readonly settled: Promise<Settled>;
  /** Relays the response (after its head) to the downstream. */
  commit(): void;
  /** Abandons the attempt (reset, or the response drained). */
  discard(): void;
}

const REFUSED_STREAM = http2.constants.NGHTTP2_REFUSED_STREAM;

export async function sendUpstream(plan: UpstreamPlan): Promise<void> {
  const { x, rt, req, res, d, timeouts } = plan;
  const policy = d.retry;
  /** Whether the request has body bytes to send (decided before anything reads the body). */
  const bodied = sendsBody(req, plan.bodyPrefix);
  const body = new ReplayBody(req, undefined, plan.bodyPrefix);
  const tried: Endpoint[] = [];
  let upstream = d.upstream;
  let retriesLeft = policy?.numRetries ?? 0;
  let retries = 0;
  /** The exchange is answered (a failure) or gone: nothing more is sent or retried. */
  let over = false;
  let current: Attempt | undefined;
  /** The running retry's grant (the cluster's max_retries or retry budget), held until its attempt's outcome is known. */
  let retrySlot: RetryGrant | undefined;
  const endRetry = () => {
    const slot = retrySlot;
    retrySlot = undefined;
    slot?.done();
  };
  let globalTimer: NodeJS.Timeout | undefined;
  // Whatever reports first (a timeout, a reset mid-body, the downstream leaving) decides; later reports are consequences.
  const p: UpstreamPlan = {
    ...plan,
    fail: (kind, reason) => {
      if (over) return;
      over = true;
      if (globalTimer) clearTimeout(globalTimer);
      plan.fail(kind, reason);
    },
  };
  const whenComplete = (f: () => void) => (req.readableEnded ? f() : req.once("end", f));
  // Envoy's route timeout spans from the end of the downstream request to the end of the response.
  if (timeouts.globalMs > 0)
    whenComplete(() => {
      if (over) return;
      globalTimer = setTimeout(() => {
        if (over) return;
        p.fail("UT", `no complete response within ${timeouts.globalMs} ms`);
        current?.discard();
      }, timeouts.globalMs);
      globalTimer.unref();
    });
  res.once("close", () => {
    if (globalTimer) clearTimeout(globalTimer);
    if (!over) current?.discard();
    over = true;
  });
  const headers = timeouts.grpcTimeoutHeader ? { ...p.headers, "grpc-timeout": timeouts.grpcTimeoutHeader } : p.headers;
  x.upstreamStart = Date.now();
  for (;;) {
    x.upstream = upstream;
    tried.push(upstream.endpoint);
    retrySlot?.attempting();
    const a = attempt(p, upstream, headers, body, bodied);
    current = a;
    let perTry: NodeJS.Timeout | undefined;
    // Without a per-try timeout the attempt's own outcome is awaited alone (no race, no timer per request).
    const r =
      timeouts.perTryMs > 0
        ? await Promise.race([
            a.settled,
            new Promise<Settled>((resolve) =>
              whenComplete(() => {
                perTry = setTimeout(
                  () => resolve({ ok: false, outcome: { kind: "failure", failure: "UT", refused: false }, reason: "per-try timeout" }),
                  timeouts.perTryMs,
                );
                perTry.unref();
              }),
            ),
          ])
        : await a.settled;
    if (perTry) clearTimeout(perTry);
    endRetry();
    if (over) return a.discard();
    const outcome: AttemptOutcome = r.ok
      ? {
          kind: "response",
          status: r.head.status,
          ...(r.head.headers["grpc-status"] !== undefined ? { grpcStatus: Number(r.head.headers["grpc-status"]) } : {}),
          headers: r.head.headers,
        }
      : r.outcome;
    const retriable = policy !== undefined && isRetriable(policy, outcome);
    const next = retriable && retriesLeft > 0 && body.replayable && !res.headersSent;
    if (next) retrySlot = rt.clusters.admitRetry(upstream.cluster);
    // Envoy's RetryStatus::NoOverflow: the answer in hand is returned, flagged UO.
    const overflowed = next && !retrySlot;
    if (retrySlot) {
      const counted = r.ok ? outcomeOf(r.head.status, "") : outcomeOf(0, r.outcome.failure);
      if (counted) rt.clusters.report(upstream.cluster, upstream.endpoint, counted);
      a.discard();
      body.detach();
      retriesLeft--;
      retries++;
      // Envoy's router holds no upstream request during the back-off: the cluster's max_requests (and
      // an HTTP/1.1 connection slot) is free until the retry is admitted again, below.
      x.upstreamDone?.(undefined);
      x.upstreamDone = undefined;
      await new Promise((resolve) => setTimeout(resolve, backoffMs(retries, policy!.backOff, rt.random)).unref());
      if (over || !body.replayable) {
        endRetry();
        if (!over) p.fail(r.ok ? "UR" : r.outcome.failure, "the request body outgrew the retry buffer during the back-off");
        return;
      }
      const set = rt.l7.endpointsOf(upstream.cluster);
      const cluster = upstream.cluster;
      const ep = retryEndpoint(policy!, tried, () => (set ? rt.clusters.pick(cluster, set) : undefined));
      if (ep) upstream = { cluster: upstream.cluster, endpoint: ep };
      const admitted = await admitUpstream(rt, upstream, !p.h2, () => closedPromise(res));
      if (over || !admitted.ok) {
        if (admitted.ok) admitted.done(undefined);
        endRetry();
        // A retry the breaker refuses is Envoy's pool overflow: 503 UO (a client gone while it was pending is logged DC).
        if (!over && !admitted.ok && !admitted.gone) p.fail("UO", admitted.reason);
        return;
      }
      x.upstreamDone = admitted.done;
      continue;
    }
    body.release();
    const retryFlag = retriable && retriesLeft === 0 ? "URX" : overflowed ? "UO" : "";
    if (!r.ok) {
      a.discard();
      p.fail(r.outcome.failure, r.reason);
      if (r.outcome.failure === "UT") x.details = "upstream_per_try_timeout";
      if (retryFlag) x.flags = x.flags ? `${x.flags},${retryFlag}` : retryFlag;
      return;
    }
    if (retryFlag) x.flags = x.flags ? `${x.flags},${retryFlag}` : retryFlag;
    x.upstreamTime = Date.now() - x.upstreamStart;
    a.commit();
    return;
  }
}

function tunnelOf(p: UpstreamPlan, u: Upstream) {
  const ep = u.endpoint;
  const workload = p.rt.state.workloadByAddress(p.rt.network, ep.ip);
  const key = `${u.cluster.name}|${formatAddress(ep)}|${p.ctx.client.ip}`;
  const open = () => p.rt.openTunnel(ep, workload, p.ctx.client, u.cluster.service?.host);
  return { key, open };
}

function failure(failure: Extract<AttemptOutcome, { kind: "failure" }>["failure"], reason: string, refused = false): Settled {
  return { ok: false, outcome: { kind: "failure", failure, refused }, reason };
}

function attempt(p: UpstreamPlan, u: Upstream, headers: HeaderMap, body: ReplayBody, bodied: boolean): Attempt {
  return upstreamH2(u.cluster, p.h2) ? h2Attempt(p, u, headers, body, bodied) : h1Attempt(p, u, headers, body, bodied);
}

/**
 * An upstream HTTP/2 request stream (the request path's and the mirrors'). endStream is explicit:
 * Node ends a GET's (or HEAD's) stream at its HEADERS by default, and a GET may carry a body.
 */
export function h2Request(
  session: http2.ClientHttp2Session,
  headers: HeaderMap,
  method: string,
  path: string,
  authority: string,
  bodied: boolean,
): http2.ClientHttp2Stream {
  return session.request(
    { ...headers, ":method": method, ":path": path, ":authority": authority, ":scheme": "http" },
    { endStream: !bodied },
  );
}

function h2Attempt(p: UpstreamPlan, u: Upstream, headers: HeaderMap, body: ReplayBody, bodied: boolean): Attempt {
  const { rt, req, res, d } = p;
  let stream: http2.ClientHttp2Stream | undefined;
  let discarded = false;
  let trailers: HeaderMap | undefined;
  let head: Head | undefined;
  const settled = (async (): Promise<Settled> => {
    const { key, open } = tunnelOf(p, u);
    const s = await rt.upstreams.session(key, open, u.cluster);
    if (!s.ok) return failure("UF", s.error.message);
    if (discarded) return failure("UC", "discarded");
    try {
      stream = h2Request(s.value, headers, req.method ?? "GET", d.path, d.authority, bodied);
    } catch (e) {
      return failure("UC", (e as Error).message);
    }
    const st = stream;
    body.attach(st);
    st.once("trailers", (t) => (trailers = endToEnd(t)));
    return new Promise<Settled>((resolve) => {
      st.once("response", (h, flags) => {
        head = { status: Number(h[":status"]), headers: h, endStream: (flags & http2.constants.NGHTTP2_FLAG_END_STREAM) !== 0 };
        resolve({ ok: true, head });
      });
      st.once("error", (e) => resolve(failure(classifyUpstreamError(e), e.message)));
      st.once("close", () => resolve(failure("UR", `upstream stream reset (code ${st.rstCode})`, st.rstCode === REFUSED_STREAM)));
    });
  })();
  return {
    settled,
    discard() {
      discarded = true;
      if (stream && !stream.closed) stream.close(http2.constants.NGHTTP2_CANCEL);
    },
    commit() {
      const st = stream!;
      const h = head!;
      const x = p.x;
      // A trailers-only answer (gRPC errors: grpc-status in the only HEADERS, with END_STREAM)
      // must stay one: a client reads no status from headers followed by an empty DATA frame.
      if (h.endStream && !res.headersSent) {
        const out = withAuthzResponseHeaders(x.authz, mutateHeaders(endToEnd(h.headers), x.levels, "response"));
        if (out["grpc-status"] !== undefined) x.grpcStatus = String(out["grpc-status"]);
        x.status = h.status;
        x.responseBytes += headerBytes(out);
        if (res instanceof H2Response) res.stream.respond({ ...out, ":status": h.status }, { endStream: true });
        else {
          (res as http.ServerResponse).writeHead(h.status, out);
          res.end();
        }
        return;
      }
      relayHead(x, res, h.status, h.headers, true);
      st.on("data", (c: Buffer) => {
        x.responseBytes += c.length;
        if (!(res as http.ServerResponse).write(c)) {
          st.pause();
          res.once("drain", () => st.resume());
        }
      });
      st.once("end", () => {
        if (trailers?.["grpc-status"] !== undefined) x.grpcStatus = String(trailers["grpc-status"]);
        if (trailers && Object.keys(trailers).length) res.addTrailers(trailers);
        res.end();
      });
      st.once("error", (e) => p.fail(classifyUpstreamError(e), e.message));
      st.once("close", () => {
        if (!st.readableEnded && !res.writableEnded) p.fail("UR", `upstream stream reset (code ${st.rstCode})`);
      });
    },
  };
}

function h1Attempt(p: UpstreamPlan, u: Upstream, headers: HeaderMap, body: ReplayBody, bodied: boolean): Attempt {
  return new H1Attempt(p, u, headers, body, bodied);
}

/** Why an attempt's undici request is aborted (its error report is then ignored). */
const DISCARDED = new Error("upstream attempt discarded");

/**
 * One HTTP/1.1 attempt on the key's undici pool (upstream.ts), as undici's dispatch handler:
 * the first final response head settles it (1xx heads are dropped, as Node's client did); the
 * body is held, the parser paused, until commit() relays it or discard() aborts the request.
 * undici may deliver bytes while paused (a peer that closes is drained to the end), so whatever
 * arrives before commit is kept in order (chunks, then the end or the error) and replayed.
 */
class H1Attempt implements Attempt, Dispatcher.DispatchHandler {
  readonly settled: Promise<Settled>;
  private resolve!: (s: Settled) => void;
  private controller: Dispatcher.DispatchController | undefined;
  private head: Head | undefined;
  private committed = false;
  private discarded = false;
  /** Waiting for the downstream's drain (at most one listener). */
  private draining = false;
  private held: Buffer[] | undefined;
  /** The whole response went downstream (undici completed the request). */
  private relayed = false;
  private trailers: Record<string, string | string[] | undefined> | undefined;
  private error: (Error & { code?: string }) | undefined;

  constructor(
    private readonly p: UpstreamPlan,
    u: Upstream,
    headers: HeaderMap,
    replay: ReplayBody,
    bodied: boolean,
  ) {
    this.settled = new Promise((r) => (this.resolve = r));
    const { key, open } = tunnelOf(p, u);
    const pool = p.rt.upstreams.pool(key, open, u.cluster);
    // A bodiless request goes without a stream (most requests): undici writes the head alone.
    const sink = bodied ? new PassThrough() : null;
    const method = p.req.method ?? "GET";
    // undici closes a connection after HEAD (a guard against servers that send a body); Node's client kept it.
    const reset = method === "HEAD" ? { reset: false } : {};
    pool.dispatch({ method, path: p.d.path, headers: h1RequestHeaders(headers, p.d.authority), body: sink, ...reset }, this);
    if (sink) replay.attach(sink);
  }

  onRequestStart(c: Dispatcher.DispatchController): void {
    this.controller = c;
    if (this.discarded) c.abort(DISCARDED);
  }

  onResponseStart(c: Dispatcher.DispatchController, status: number, headers: Record<string, string | string[] | undefined>): void {
    if (status < 200) return;
    this.head = { status, headers: joinRepeated(headers) as http.IncomingHttpHeaders, endStream: false };
    if (!this.committed) c.pause();
    this.resolve({ ok: true, head: this.head });
  }

  onResponseData(c: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.committed) this.relay(c, chunk);
    else (this.held ??= []).push(chunk);
  }

  onResponseEnd(_c: Dispatcher.DispatchController, trailers: Record<string, string | string[] | undefined>): void {
    if (this.committed) this.finish(trailers);
    else this.trailers = trailers;
  }

  onResponseError(_c: Dispatcher.DispatchController, e: Error & { code?: string }): void {
    if (this.discarded) return;
    if (!this.head) return this.resolve(failure(e instanceof ConnectFailure ? "UF" : classifyUpstreamError(e), e.message));
    if (this.committed) this.p.fail(classifyUpstreamError(e), e.message);
    else this.error = e;
  }

  discard(): void {
    // The exchange's close discards its attempt; one whose response was relayed to its end has nothing left to abort.
    if (this.relayed) return;
    this.discarded = true;
    this.resolve(failure("UC", "discarded"));
    this.controller?.abort(DISCARDED);
  }

  commit(): void {
    const h = this.head!;
    this.committed = true;
    relayHead(this.p.x, this.p.res, h.status, h.headers, announcesTrailers(h.headers));
    const c = this.controller!;
    const held = this.held;
    this.held = undefined;
    if (held) for (const chunk of held) this.relay(c, chunk);
    if (this.error) this.p.fail(classifyUpstreamError(this.error), this.error.message);
    else if (this.trailers) this.finish(this.trailers);
    else if (!this.draining) c.resume();
  }

  private relay(c: Dispatcher.DispatchController, chunk: Buffer): void {
    this.p.x.responseBytes += chunk.length;
    if ((this.p.res as http.ServerResponse).write(chunk) || this.draining) return;
    this.draining = true;
    c.pause();
    this.p.res.once("drain", () => {
      this.draining = false;
      c.resume();
    });
  }

  private finish(trailers: Record<string, string | string[] | undefined>): void {
    this.relayed = true;
    const t = endToEnd(joinRepeated(trailers));
    if (Object.keys(t).length) this.p.res.addTrailers(t);
    this.p.res.end();
  }
}

/** `trailers`: the upstream may send trailers (HTTP/2), so an HTTP/2 downstream's stream waits for them. */
function relayHead(
  x: UpstreamRecord,
  res: DownstreamResponse,
  status: number,
  upstreamHeaders: Record<string, unknown>,
  trailers = false,
): void {
  if (res.headersSent || res.writableEnded || !x.upstream) return;
  const h = withAuthzResponseHeaders(x.authz, mutateHeaders(endToEnd(upstreamHeaders as Record<string, string>), x.levels, "response"));
  if (x.setCookie) h["set-cookie"] = [...toList(h["set-cookie"]), x.setCookie];
  if (h["grpc-status"] !== undefined) x.grpcStatus = String(h["grpc-status"]);
  x.status = status;
  x.responseBytes += headerBytes(h);
  if (res instanceof H2Response) res.writeHead(status, h, trailers);
  else res.writeHead(status, h);
}

function toList(v: string | readonly string[] | undefined): string[] {
  return v === undefined ? [] : typeof v === "string" ? [v] : [...v];
}

/**
 * Whether the upstream request is HTTP/2: the cluster's HttpProtocolOptions (explicit HTTP/2 or
 * HTTP/1.1, Envoy's default) or, with use_downstream_protocol_config, the downstream's.
 */
export function upstreamH2(cluster: Cluster, downstreamH2: boolean): boolean {
  return cluster.upstreamProtocol === "HTTP2" || (cluster.upstreamProtocol === "DOWNSTREAM" && downstreamH2);
}
