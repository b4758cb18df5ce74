/**
 * The waypoint's calls to external authorizers (ext_authz filters, Istio's CUSTOM action): an
 * HTTP check (node:http, the client's method and prefixed path, the allowed headers, the buffered
 * body under with_request_body) or gRPC `envoy.service.auth.v3.Authorization/Check` (@grpc/grpc-js
 * with Envoy's own protos, the body in `body` or `raw_body`), to
 * the filter's cluster, each bounded by the filter's timeout. The authorizer's address is an
 * endpoint of that cluster as the control plane sent it (round robin), reached directly over
 * TCP, as the tracer reaches its collector. Every failure (no endpoint, connect error, timeout,
 * a gRPC error) is an `error` outcome: the filter then fails closed unless `failure_mode_allow`.
 */
import http from "node:http";
import * as grpc from "@grpc/grpc-js";
import { envoyTypes } from "../../common/xds/envoy-proto.js";
import type { L7View } from "../envoy/store.js";
import {
  type CheckBody,
  type CheckOutcome,
  PARTIAL_BODY_HEADER,
  checkBody,
  type CheckResponseJson,
  type ExtAuthzFilter,
  type ExtAuthzGrpcService,
  checkHeaders,
  fromCheckResponse,
  fromHttpResponse,
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

const CHECK_METHOD = "/envoy.service.auth.v3.Authorization/Check";
const OBJ = { enums: Number, longs: Number, defaults: false, oneofs: false } as const;

export class ExtAuthzClient {
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  private readonly grpcClients = new Map<string, grpc.Client>();
  private next = 0;

  constructor(private readonly l7: L7View) {}

  check(f: ExtAuthzFilter, facts: RequestFacts, peer: CheckPeer, body?: CheckBody): Promise<CheckOutcome> {
    const c = this.l7.cluster(f.service.cluster);
    const eps = c ? (this.l7.endpointsOf(c)?.endpoints ?? []) : [];
    if (!eps.length) return Promise.resolve({ kind: "error", reason: `no endpoint in cluster ${f.service.cluster}` });
    const ep = eps[this.next++ % eps.length]!;
    return f.service.kind === "http" ? this.http(f, facts, ep, body) : this.grpc(f, f.service, facts, peer, ep, body);
  }

  private http(f: ExtAuthzFilter, facts: RequestFacts, ep: { ip: string; port: number }, body?: CheckBody): Promise<CheckOutcome> {
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
          agent: this.agent,
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

  private grpcClient(address: string, authority: string): grpc.Client {
    const key = `${address}|${authority}`;
    let c = this.grpcClients.get(key);
    if (!c) {
      c = new grpc.Client(address, grpc.credentials.createInsecure(), authority ? { "grpc.default_authority": authority } : {});
      this.grpcClients.set(key, c);
    }
    return c;
  }

  private grpc(
    f: ExtAuthzFilter,
    s: ExtAuthzGrpcService,
    facts: RequestFacts,
    peer: CheckPeer,
    ep: { ip: string; port: number },
    body?: CheckBody,
  ): Promise<CheckOutcome> {
    const root = envoyTypes().root;
    const Req = root.lookupType("envoy.service.auth.v3.CheckRequest");
    const Res = root.lookupType("envoy.service.auth.v3.CheckResponse");
    const now = Date.now();
    const b = checkBody(f, body);
    const headers: Record<string, string> = {
      ":authority": facts.authority,
      ":method": facts.method,
      ":path": facts.path,
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
    const host = ep.ip.includes(":") ? `[${ep.ip}]` : ep.ip;
    const client = this.grpcClient(`${host}:${ep.port}`, s.authority);
    return new Promise((resolve) => {
      client.makeUnaryRequest(
        CHECK_METHOD,
        (m: protobufMessage) => Buffer.from(Req.encode(m).finish()),
        (b: Buffer) => Res.toObject(Res.decode(b), OBJ) as CheckResponseJson,
        msg,
        { deadline: new Date(now + s.timeoutMs) },
        (e, r) => {
          if (e || !r) return resolve({ kind: "error", reason: e ? `${grpc.status[e.code] ?? e.code}: ${e.details}` : "empty response" });
          resolve(fromCheckResponse(r));
        },
      );
    });
  }

  close(): void {
    this.agent.destroy();
    for (const c of this.grpcClients.values()) c.close();
    this.grpcClients.clear();
  }
}

type protobufMessage =
  ReturnType<ReturnType<typeof envoyTypes>["root"]["lookupType"]> extends { fromObject(o: object): infer M } ? M : never;
