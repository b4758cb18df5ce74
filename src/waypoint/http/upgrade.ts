/**
 * HTTP/1.1 Upgrade (WebSocket and any other type the listener's upgrade_configs allows): the
 * request is routed like any other; an upgrade type the HCM does not list is refused with
 * Envoy's 403 (upgrade_failed). Once the upstream answers 101, both sides are joined byte for
 * byte until either closes. Each upgrade gets its own upstream connection (never pooled).
 */
import http from "node:http";
import type { Duplex } from "node:stream";
import { logger } from "../../common/log.js";
import { formatAddress } from "../../common/net/addr.js";
import { decide } from "../route/decide.js";
import { mutateHeaders } from "../route/rewrite.js";
import type { ProxyRuntime, TunnelContext } from "./context.js";
import { failureResponse } from "./errors.js";
import { authorizeRequest } from "./authz-step.js";
import { Exchange, requestFacts, routeTableOf } from "./forward.js";
import { endToEnd } from "./hop.js";
import { propagate } from "./trace.js";
import { socketLike } from "./upstream.js";

const log = logger("waypoint.upgrade");

function rawResponse(status: number, headers: Record<string, string | string[] | number | undefined>, body = ""): string {
  const lines = [`HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? ""}`];
  for (const [k, v] of Object.entries(headers)) {
    if (v === undefined) continue;
    for (const x of Array.isArray(v) ? v : [v]) lines.push(`${k}: ${x}`);
  }
  return lines.join("\r\n") + "\r\n\r\n" + body;
}

export async function handleUpgrade(
  rt: ProxyRuntime,
  ctx: TunnelContext,
  req: http.IncomingMessage,
  socket: Duplex,
  head: Buffer,
): Promise<void> {
  let facts = requestFacts(req);
  const x = new Exchange(rt, ctx, facts, `HTTP/${req.httpVersion}`);
  socket.on("error", () => socket.destroy());
  socket.once("close", () => x.finish());
  const filter = ctx.listener.filter;
  const type = String(req.headers.upgrade ?? "").toLowerCase();
  const reply = (status: number, flags: string, details: string, body: string) => {
    x.status = status;
    x.flags = flags;
    x.details = details;
    socket.end(rawResponse(status, { "content-length": Buffer.byteLength(body), connection: "close" }, body));
  };
  if (filter.kind !== "http" || !("upgrades" in filter) || !(filter.upgrades as readonly string[]).includes(type)) {
    const f = failureResponse("UPGRADE", type);
    return reply(f.status, f.flags, f.details, f.body);
  }
  x.authz = await authorizeRequest(rt, ctx, facts, req, { upgrade: true });
  if (x.authz.kind === "deny") {
    const a = x.authz;
    x.status = a.status;
    x.details = a.details;
    return void socket.end(
      rawResponse(a.status, { ...a.headers, "content-length": Buffer.byteLength(a.body), connection: "close" }, a.body),
    );
  }
  facts = requestFacts(req);
  const d = decide(
    { view: rt.l7, endpoints: rt.clusters, random: rt.random, originalDestination: ctx.target },
    routeTableOf(rt, ctx),
    facts,
  );
  x.routeName = d.routeName;
  if (d.kind === "respond") {
    const f = d.flags ? failureResponse(d.flags as "NR", d.reason) : undefined;
    x.status = d.status;
    x.flags = d.flags;
    const body = d.body ?? f?.body ?? "";
    return void socket.end(
      rawResponse(
        d.status,
        { ...(d.location ? { location: d.location } : {}), "content-length": Buffer.byteLength(body), connection: "close" },
        body,
      ),
    );
  }
  x.upstream = d.upstream;
  x.upstreamPath = d.path;
  const ep = d.upstream.endpoint;
  const workload = rt.state.workloadByAddress(rt.network, ep.ip);
  const tunnel = await rt.openTunnel(ep, workload, ctx.client, d.upstream.cluster.service?.host);
  if (!tunnel.ok) {
    const f = failureResponse("UF", tunnel.error.message);
    return reply(f.status, f.flags, f.details, f.body);
  }
  const traced = propagate(mutateHeaders(endToEnd(req.headers), d.levels, "request"), rt.ids);
  x.requestId = traced.requestId;
  const up = http.request({
    createConnection: () => socketLike(tunnel.value),
    method: req.method,
    path: d.path,
    headers: { ...traced.headers, host: d.authority, connection: "Upgrade", upgrade: String(req.headers.upgrade) },
    setHost: false,
  });
  up.once("upgrade", (r, upSocket: Duplex, upHead: Buffer) => {
    x.status = 101;
    const h = mutateHeaders(endToEnd(r.headers), d.levels, "response");
    socket.write(rawResponse(101, { ...h, connection: "Upgrade", upgrade: String(r.headers.upgrade ?? type) }));
    if (upHead.length) socket.write(upHead);
    if (head.length) upSocket.write(head);
    const close = () => {
      socket.destroy();
      upSocket.destroy();
    };
    upSocket.on("error", close);
    socket.on("error", close);
    upSocket.on("data", (c: Buffer) => (x.responseBytes += c.length));
    socket.on("data", (c: Buffer) => (x.requestBytes += c.length));
    upSocket.pipe(socket);
    socket.pipe(upSocket);
  });
  up.once("response", (r) => {
    x.status = r.statusCode ?? 502;
    socket.write(
      rawResponse(x.status, {
        ...mutateHeaders(endToEnd(r.headers), d.levels, "response"),
        connection: "close",
        "transfer-encoding": undefined,
      }),
    );
    r.pipe(socket);
  });
  up.once("error", (e) => {
    log.info({ err: e.message, upstream: formatAddress(ep) }, "upgrade upstream failed");
    const f = failureResponse("UC", e.message);
    if (x.status === 0) reply(f.status, f.flags, f.details, f.body);
    else socket.destroy();
  });
  up.end();
}
