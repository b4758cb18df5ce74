/**
 * The request path's one call into the listener's HTTP filters (authz/chain.ts: jwt_authn, RBAC)
 * before route selection: builds what the filters see from the tunnel (peer principal from the
 * HBONE certificate, client address, the VIP:port dialled), applies a passing verdict's header
 * changes to the request in place (so routing, the upstream and later filters see them), and
 * answers a failing one locally (401/403, 413 for an ext_authz body over its limit) with Envoy's
 * body and details. An ext_authz filter with with_request_body reads the body here first
 * (request-body.ts); those bytes go back to the caller as the body's prefix.
 *
 * The filters are those of the listener in force now, not of the one the tunnel started on: a
 * policy change applies to the next request of an open keep-alive connection (Envoy would keep
 * draining connections on the old listener; weft is stricter, docs/authorization.md).
 */
import { toUri } from "../../common/spiffe.js";
import { type AuthzHttpFilter, type AuthzReport, runChain, runNetworkChain } from "../authz/chain.js";
import type { AuthzDenial } from "../authz/types.js";
import type { RequestFacts } from "../route/request.js";
import type { BodyRead } from "../authz/chain.js";
import type { ExtAuthzFilter } from "../authz/ext-authz.js";
import type { DownstreamRequest, ProxyRuntime, TunnelContext } from "./context.js";
import { type BufferedBody, bufferRequestBody } from "./request-body.js";
import { formatAddress } from "../../common/net/addr.js";
import type { Cluster, Endpoint } from "../envoy/types.js";
import { type ExtAuthzDialer, ExtAuthzClient } from "./ext-authz-client.js";

/** One ext authz client per waypoint view. */
const clients = new WeakMap<ProxyRuntime["l7"], ExtAuthzClient>();
const clientOf = (rt: ProxyRuntime): ExtAuthzClient => {
  let c = clients.get(rt.l7);
  if (!c) clients.set(rt.l7, (c = new ExtAuthzClient(rt.l7, dialerOf(rt))));
  return c;
};

/**
 * The authorizer is an upstream of the waypoint like any other: its connections are the
 * runtime's (HBONE with the waypoint's identity to a mesh workload, else TCP), keyed apart from
 * the request path's, with the waypoint itself as the client.
 */
function dialerOf(rt: ProxyRuntime): ExtAuthzDialer {
  const self = { ip: rt.self?.ip ?? "0.0.0.0", port: 0 };
  const open = (c: Cluster, ep: Endpoint) => () => rt.openTunnel(ep, rt.state.workloadByAddress(rt.network, ep.ip), self, c.service?.host);
  const key = (c: Cluster, ep: Endpoint) => `ext_authz|${c.name}|${formatAddress(ep)}`;
  return {
    agent: (c, ep) => rt.upstreams.agent(key(c, ep), open(c, ep), c),
    session: (c, ep) => rt.upstreams.session(key(c, ep), open(c, ep), c),
  };
}

/** Closes the ext authz connections of a waypoint view (at waypoint stop). */
export function closeExtAuthz(l7: ProxyRuntime["l7"]): void {
  clients.get(l7)?.close();
  clients.delete(l7);
}

export type AuthzStep =
  | {
      readonly kind: "pass";
      readonly report?: AuthzReport;
      /** Body bytes an ext_authz filter read off the request (with_request_body): the upstream and mirrors get them first. */
      readonly bodyPrefix?: readonly Buffer[];
      /** ext_authz headers for the client's response: added, then set. */
      readonly responseAdd?: readonly (readonly [string, string])[];
      readonly responseSet?: readonly (readonly [string, string])[];
    }
  | (AuthzDenial & { readonly report: AuthzReport });

/** The step of a listener without HTTP filters before the router: nothing checked, nothing changed. */
export const NO_AUTHZ: AuthzStep = Object.freeze({ kind: "pass" });

/**
 * The HTTP filters before the router (JWT, RBAC, ext_authz) of the listener in force now. A
 * listener without any answers NO_AUTHZ synchronously (no promise per request); the request's
 * headers are then unchanged.
 */
export function authorizeRequest(
  rt: ProxyRuntime,
  ctx: TunnelContext,
  facts: RequestFacts,
  req: DownstreamRequest,
  opts: { readonly upgrade?: boolean; readonly now?: () => number } = {},
): AuthzStep | Promise<AuthzStep> {
  const f = (rt.l7.listenerFor(ctx.target.ip, ctx.target.port) ?? ctx.listener).filter;
  if (f.kind !== "http" || f.authz.length === 0) return NO_AUTHZ;
  return runHttpFilters(rt, ctx, f.authz, facts, req, opts);
}

async function runHttpFilters(
  rt: ProxyRuntime,
  ctx: TunnelContext,
  authz: readonly AuthzHttpFilter[],
  facts: RequestFacts,
  req: DownstreamRequest,
  opts: { readonly upgrade?: boolean; readonly now?: () => number },
): Promise<AuthzStep> {
  const now = opts.now ?? Date.now;
  const headers = req.headers as Record<string, string | string[] | undefined>;
  // One read of the body per request, however many ext_authz filters ask (the first one's limits).
  let buffered: Promise<BufferedBody> | undefined;
  const body = async (x: ExtAuthzFilter): Promise<BodyRead> => {
    const s = x.withRequestBody!;
    // Envoy never buffers an upgrade request (WebSocket, h2c): its bytes after the headers are the new protocol's.
    if (opts.upgrade) return { kind: "none" };
    const b = await (buffered ??= bufferRequestBody(req, s.maxRequestBytes, s.allowPartialMessage));
    if (b.kind === "none") return b;
    if (b.kind === "too_large") return b;
    return { kind: "body", body: { bytes: Buffer.concat(b.chunks), complete: b.kind === "body" && b.complete } };
  };
  const v = await runChain(authz, {
    facts,
    peerPrincipal: toUri(ctx.peer),
    clientIp: ctx.client.ip,
    destinationIp: ctx.target.ip,
    destinationPort: ctx.target.port,
    nowSeconds: Math.floor(now() / 1000),
    check: (filter, facts, checkBody) =>
      clientOf(rt).check(
        filter,
        facts,
        {
          clientIp: ctx.client.ip,
          principal: toUri(ctx.peer),
          destinationIp: ctx.target.ip,
          destinationPort: ctx.target.port,
        },
        checkBody,
      ),
    body,
  });
  if (v.kind === "deny") return v;
  for (const h of v.removeHeaders) delete headers[h];
  Object.assign(headers, v.setHeaders);
  const b = buffered ? await buffered : undefined;
  return {
    kind: "pass",
    report: v.report,
    ...(b && b.kind !== "none" && b.chunks.length ? { bodyPrefix: b.chunks } : {}),
    ...(v.responseAdd.length ? { responseAdd: v.responseAdd } : {}),
    ...(v.responseSet.length ? { responseSet: v.responseSet } : {}),
  };
}

/** Envoy's ext_authz encodeHeaders: the allow's client headers, added as further values, then set. */
export function withAuthzResponseHeaders<H extends Record<string, unknown>>(step: AuthzStep | undefined, h: H): H {
  if (!step || step.kind !== "pass" || (!step.responseAdd && !step.responseSet)) return h;
  const out: Record<string, unknown> = { ...h };
  for (const [k, v] of step.responseAdd ?? []) {
    const cur = out[k];
    out[k] = cur === undefined ? v : [...(Array.isArray(cur) ? (cur as unknown[]) : [cur]), v];
  }
  for (const [k, v] of step.responseSet ?? []) out[k] = v;
  return out as H;
}

/**
 * A TCP listener's network RBAC for this tunnel (the listener in force now): the reason to
 * refuse it, or undefined. Envoy closes a denied connection; the waypoint refuses the tunnel.
 */
export function authorizeConnection(rt: ProxyRuntime, ctx: TunnelContext): string | undefined {
  const f = (rt.l7.listenerFor(ctx.target.ip, ctx.target.port) ?? ctx.listener).filter;
  if (f.kind !== "tcp" || f.authz.length === 0) return undefined;
  const r = runNetworkChain(f.authz, {
    peerPrincipal: toUri(ctx.peer),
    clientIp: ctx.client.ip,
    destinationIp: ctx.target.ip,
    destinationPort: ctx.target.port,
  });
  return r.denied === undefined ? undefined : `rbac_access_denied_matched_policy[${r.denied}]`;
}

/** Access-log fields for an authorization report (omitted when empty). */
export function authzLogFields(r: AuthzReport | undefined): Record<string, unknown> {
  if (!r) return {};
  return {
    ...(r.policies.length ? { authz_policy: r.policies.join(",") } : {}),
    ...(r.dryRun.length ? { authz_dry_run: r.dryRun } : {}),
    ...(r.audit.length ? { authz_audit: r.audit } : {}),
    ...(r.requestPrincipals.length ? { request_principal: r.requestPrincipals.join(",") } : {}),
    ...(r.extAuthz?.length ? { ext_authz: r.extAuthz } : {}),
  };
}
