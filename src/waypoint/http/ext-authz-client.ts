/**
 * The waypoint's calls to external authorizers (ext_authz filters, Istio's CUSTOM action): an
 * HTTP check (the client's method and prefixed path, the allowed headers, the buffered body under
 * with_request_body) or gRPC `envoy.service.auth.v3.Authorization/Check` (Envoy's own protos; the
 * body in `body` or `raw_body`), to an endpoint of the filter's cluster (round robin), each
 * bounded by the filter's timeout.
 *
 * The authorizer is dialled like any upstream of the waypoint (`dialer`, http/upstream.ts
 * connections over the runtime's tunnels): over HBONE, with the waypoint's identity, when the
 * endpoint is a workload of the mesh (as Istio's waypoint reaches its provider cluster through
 * its HBONE path), plaintext TCP otherwise. The gRPC call is one unary call on that HTTP/2
 * connection (length-prefixed message, grpc-status from the trailers or a trailers-only answer).
 * Every failure (no endpoint, connect error, timeout, a gRPC error) is an `error` outcome: the
 * filter then fails closed unless `failure_mode_allow`.
 */
import http from "node:http";
import http2 from "node:http2";
import { envoyTypes } from "../../common/xds/envoy-proto.js";
import type { Result } from "../../common/result.js";
import type { Cluster, Endpoint } from "../envoy/types.js";
import type { L7View } from "../envoy/store.js";
import {
  type CheckBody,
  type CheckOutcome,
  type CheckResponseJson,
  type ExtAuthzFilter,
  type ExtAuthzGrpcService,
  PARTIAL_BODY_HEADER,
  checkBody,
  checkHeaders,
  fromCheckResponse,
  fromHttpResponse,
  grpcHeaderAllowed,
  httpCheckRequest,
} from "../authz/ext-authz.js";
import type { RequestFacts } from "../route/request.js";

/** What the check says about the connection (gRPC AttributeContext source/destination). */
export interface CheckPeer {
  readonly clientIp: string;
  readonly principal: string | undefined;
  readonly destinationIp: string;
  readonly destinationPort: number;
}

/** Connections to an authorizer endpoint (the waypoint's upstream connections: HBONE or TCP). */
export interface ExtAuthzDialer {
  agent(cluster: Cluster, ep: Endpoint): http.Agent;
  session(cluster: Cluster, ep: Endpoint): Promise<Result<http2.ClientHttp2Session, Error>>;
}

const CHECK_METHOD = "/envoy.service.auth.v3.Authorization/Check";
const OBJ = { enums: Number, longs: Number, defaults: false, oneofs: false } as const;

export class ExtAuthzClient {
  private next = 0;

  constructor(
    private readonly l7: L7View,
    private readonly dialer: ExtAuthzDialer,
  ) {}

  check(f: ExtAuthzFilter, facts: RequestFacts, peer: CheckPeer, body?: CheckBody): Promise<CheckOutcome> {
    const c = this.l7.cluster(f.service.cluster);
    const eps = c ? (this.l7.endpointsOf(c)?.endpoints ?? []) : [];
    if (!c || !eps.length) return Promise.resolve({ kind: "error", reason: `no endpoint in cluster ${f.service.cluster}` });
    const ep = eps[this.next++ % eps.length]!;
    return f.service.kind === "http" ? this.http(f, facts, c, ep, body) : this.grpc(f, f.service, facts, peer, c, ep, body);
  }

  private http(f: ExtAuthzFilter, facts: RequestFacts, c: Cluster, ep: Endpoint, body?: CheckBody): Promise<CheckOutcome> {
    if (f.service.kind !== "http") throw new Error("unreachable");
    const s = f.service;
    const r = httpCheckRequest(s, f, facts, body);
    return new Promise((resolve) => {
      const req = http.request(
        {
          host: ep.ip,
          port: ep.port,
          method: r.method,
          path: r.path,
          headers: r.headers,
          setHost: false,
          agent: this.dialer.agent(c, ep),
          signal: AbortSignal.timeout(s.timeoutMs),
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (b: Buffer) => chunks.push(b));
          res.on("end", () => resolve(fromHttpResponse(s, res.statusCode ?? 0, res.headers, Buffer.concat(chunks).toString())));
          res.on("error", (e) => resolve({ kind: "error", reason: e.message }));
        },
      );
      req.on("error", (e) =>
        resolve({ kind: "error", reason: e.name === "AbortError" || e.name === "TimeoutError" ? "timeout" : e.message }),
      );
      req.end(r.body);
    });
  }

  private async grpc(
    f: ExtAuthzFilter,
    s: ExtAuthzGrpcService,
    facts: RequestFacts,
    peer: CheckPeer,
    c: Cluster,
    ep: Endpoint,
    body?: CheckBody,
  ): Promise<CheckOutcome> {
    const root = envoyTypes().root;
    const Req = root.lookupType("envoy.service.auth.v3.CheckRequest");
    const Res = root.lookupType("envoy.service.auth.v3.CheckResponse");
    const now = Date.now();
    const b = checkBody(f, body);
    const pseudo = Object.entries({ ":authority": facts.authority, ":method": facts.method, ":path": facts.path }).filter(([k]) =>
      grpcHeaderAllowed(f, k),
    );
    const headers: Record<string, string> = {
      ...Object.fromEntries(pseudo),
      ...checkHeaders(f, facts),
      ...(b ? { [PARTIAL_BODY_HEADER]: b.partialHeader } : {}),
    };
    // Envoy: `body` holds the bytes as a string field, `raw_body` (pack_as_bytes) as bytes.
    const bodyField = b ? (f.withRequestBody?.packAsBytes ? { rawBody: b.bytes } : { body: b.bytes.toString("utf8") }) : {};
    const q = facts.path.indexOf("?");
    const msg = Req.fromObject({
      attributes: {
        source: {
          address: { socketAddress: { address: peer.clientIp, portValue: 0 } },
          ...(peer.principal ? { principal: peer.principal } : {}),
        },
        destination: { address: { socketAddress: { address: peer.destinationIp, portValue: peer.destinationPort } } },
        request: {
          time: { seconds: Math.floor(now / 1000), nanos: (now % 1000) * 1e6 },
          http: {
            id: String(facts.headers["x-request-id"] ?? ""),
            method: facts.method,
            headers,
            path: facts.path,
            host: facts.authority,
            scheme: facts.scheme,
            ...(q >= 0 ? { query: facts.path.slice(q + 1) } : {}),
            protocol: "HTTP/1.1",
            ...(b ? { size: body!.bytes.length } : {}),
            ...bodyField,
          },
        },
      },
    });
    const session = await this.dialer.session(c, ep);
    if (!session.ok) return { kind: "error", reason: session.error.message };
    const r = await unaryCall(
      session.value,
      CHECK_METHOD,
      s.authority || `${ep.ip}:${ep.port}`,
      Buffer.from(Req.encode(msg).finish()),
      s.timeoutMs,
    );
    if (!r.ok) return { kind: "error", reason: r.reason };
    try {
      return fromCheckResponse(Res.toObject(Res.decode(r.message), OBJ) as CheckResponseJson);
    } catch (e) {
      return { kind: "error", reason: `bad CheckResponse: ${(e as Error).message}` };
    }
  }

  close(): void {}
}

type Unary = { readonly ok: true; readonly message: Buffer } | { readonly ok: false; readonly reason: string };

/**
 * One gRPC unary call on an HTTP/2 session: POST with `application/grpc`, `te: trailers` and
 * `grpc-timeout`, the request as one uncompressed length-prefixed message; the answer is OK
 * only with grpc-status 0 (from the trailers, or the headers of a trailers-only answer) and one
 * message.
 */
export function unaryCall(
  session: http2.ClientHttp2Session,
  method: string,
  authority: string,
  message: Buffer,
  timeoutMs: number,
): Promise<Unary> {
  return new Promise((resolve) => {
    let settled = false;
    const done = (u: Unary) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (!st.closed) st.close(http2.constants.NGHTTP2_CANCEL);
      resolve(u);
    };
    const frame = Buffer.alloc(5 + message.length);
    frame.writeUInt8(0, 0);
    frame.writeUInt32BE(message.length, 1);
    message.copy(frame, 5);
    let st: http2.ClientHttp2Stream;
    try {
      st = session.request({
        ":method": "POST",
        ":path": method,
        ":authority": authority,
        ":scheme": "http",
        "content-type": "application/grpc",
        te: "trailers",
        "grpc-timeout": `${Math.max(1, Math.ceil(timeoutMs))}m`,
      });
    } catch (e) {
      return resolve({ ok: false, reason: (e as Error).message });
    }
    const timer = setTimeout(() => done({ ok: false, reason: "timeout" }), timeoutMs);
    const chunks: Buffer[] = [];
    let status: string | undefined;
    let details = "";
    const statusOf = (h: http2.IncomingHttpHeaders) => {
      if (h["grpc-status"] !== undefined) {
        status = String(h["grpc-status"]);
        details = decodeURIComponent(String(h["grpc-message"] ?? ""));
      }
    };
    st.on("response", (h) => {
      if (h[":status"] !== 200) return done({ ok: false, reason: `HTTP ${String(h[":status"])} from the gRPC authorizer` });
      statusOf(h);
    });
    st.on("trailers", statusOf);
    st.on("data", (c: Buffer) => chunks.push(c));
    st.on("end", () => {
      if (status !== "0") return done({ ok: false, reason: `grpc-status ${status ?? "missing"}${details ? `: ${details}` : ""}` });
      const all = Buffer.concat(chunks);
      if (all.length < 5 || all.readUInt8(0) !== 0 || all.readUInt32BE(1) !== all.length - 5)
        return done({ ok: false, reason: "not one uncompressed gRPC message" });
      done({ ok: true, message: all.subarray(5) });
    });
    st.on("error", (e) => done({ ok: false, reason: e.message }));
    st.on("close", () => done({ ok: false, reason: `stream closed (code ${st.rstCode})` }));
    st.end(frame);
  });
}
