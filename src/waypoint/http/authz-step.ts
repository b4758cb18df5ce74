/**
 * The request path's one call into the listener's HTTP filters (authz/chain.ts: jwt_authn, RBAC)
 * before route selection: builds what the filters see from the tunnel (peer principal from the
 * HBONE certificate, client address, the VIP:port dialled), applies a passing verdict's header
 * changes to the request in place (so routing, the upstream and later filters see them), and
 * answers a failing one locally (401/403) with Envoy's body and details.
 *
 * The filters are those of the listener in force now, not of the one the tunnel started on: a
 * policy change applies to the next request of an open keep-alive connection (Envoy would keep
 * draining connections on the old listener; weft is stricter, docs/authorization.md).
 */
import { toUri } from "../../common/spiffe.js";
import { type AuthzReport, runChain, runNetworkChain } from "../authz/chain.js";
import type { AuthzDenial } from "../authz/types.js";
import type { RequestFacts } from "../route/request.js";
import type { ProxyRuntime, TunnelContext } from "./context.js";
import { ExtAuthzClient } from "./ext-authz-client.js";

/** One ext authz client per waypoint view (its keep-alive agent and gRPC channels). */
const clients = new WeakMap<ProxyRuntime["l7"], ExtAuthzClient>();
const clientOf = (rt: ProxyRuntime): ExtAuthzClient => {
  let c = clients.get(rt.l7);
  if (!c) clients.set(rt.l7, (c = new ExtAuthzClient(rt.l7)));
  return c;
};

/** Closes the ext authz connections of a waypoint view (at waypoint stop). */
export function closeExtAuthz(l7: ProxyRuntime["l7"]): void {
  clients.get(l7)?.close();
  clients.delete(l7);
}

export type AuthzStep = { readonly kind: "pass"; readonly report?: AuthzReport } | (AuthzDenial & { readonly report: AuthzReport });

export async function authorizeRequest(
  rt: ProxyRuntime,
  ctx: TunnelContext,
  facts: RequestFacts,
  headers: Record<string, string | string[] | undefined>,
  now = Date.now,
): Promise<AuthzStep> {
  const f = (rt.l7.listenerFor(ctx.target.ip, ctx.target.port) ?? ctx.listener).filter;
  if (f.kind !== "http" || f.authz.length === 0) return { kind: "pass" };
  const v = await runChain(f.authz, {
    facts,
    peerPrincipal: toUri(ctx.peer),
    clientIp: ctx.client.ip,
    destinationIp: ctx.target.ip,
    destinationPort: ctx.target.port,
    nowSeconds: Math.floor(now() / 1000),
    check: (filter, facts) =>
      clientOf(rt).check(filter, facts, {
        clientIp: ctx.client.ip,
        principal: toUri(ctx.peer),
        destinationIp: ctx.target.ip,
        destinationPort: ctx.target.port,
      }),
  });
  if (v.kind === "deny") return v;
  for (const h of v.removeHeaders) delete headers[h];
  Object.assign(headers, v.setHeaders);
  return { kind: "pass", report: v.report };
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
