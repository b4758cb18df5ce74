/**
 * The L7 authorization path end to end without sockets: AuthorizationPolicy /
 * RequestAuthentication objects -> the control plane's translation (policies attached to one
 * waypoint listener, RBAC and jwt_authn filters) -> the control plane's Listener encoder
 * (Envoy protobuf bytes, as sent over xDS) -> the waypoint's Listener decoder. What a test gets
 * back is exactly what a waypoint would enforce.
 */
import { LISTENER_TYPE_URL, envoyTypes } from "../../src/common/xds/envoy-proto.js";
import type { KubeObject } from "../../src/kube/object.js";
import { translateAuthorizationPolicy } from "../../src/controlplane/translate/authorization-policy.js";
import { jwtFilter, parseRequestAuthentication, requestAuthnProblems } from "../../src/controlplane/translate/request-authentication.js";
import {
  type RbacProblem,
  type WaypointTarget,
  attaches,
  policyTargets,
  rbacFilters,
} from "../../src/controlplane/translate/waypoint-rbac.js";
import type { ExtAuthzLookup } from "../../src/controlplane/translate/waypoint-ext-authz.js";
import type { Listener, ListenerAccessLog, ListenerFilter } from "../../src/controlplane/translate/routes/envoy-types.js";
import { listenerJson } from "../../src/controlplane/xds/envoy-kinds.js";
import { type DecodedListener, decodeEnvoyResource } from "../../src/waypoint/envoy/decode.js";

/** The in-process waypoint tests' echo service behind the waypoint default/waypoint (test/waypoint/fixture.ts). */
export const ECHO_TARGET: WaypointTarget = {
  waypointNamespace: "default",
  waypointName: "waypoint",
  serviceNamespace: "default",
  serviceName: "echo",
  registry: "Kubernetes",
};

/** A service VIP listener: one filter chain with its filter. */
export type VipListener = Listener & { readonly filter: ListenerFilter };

export const ROOT = "istio-system";

export const TARGET: WaypointTarget = {
  waypointNamespace: "foo",
  waypointName: "waypoint",
  serviceNamespace: "foo",
  serviceName: "httpbin",
  registry: "Kubernetes",
};

/** The control plane's Listener for one waypoint service port with the filters `objects` attach. */
export function controlPlaneListener(
  objects: readonly KubeObject[],
  opts: {
    target?: WaypointTarget;
    jwks?: (uri: string) => string | undefined;
    name?: string;
    ip?: string;
    port?: number;
    tcp?: boolean;
    /** The mesh config's ext authz providers (CUSTOM). */
    extAuthz?: ExtAuthzLookup;
    /** The HCM's access log (as a Telemetry enabling it gives; none by default, Istio's). */
    accessLog?: readonly ListenerAccessLog[];
  } = {},
): { listener: VipListener; problems: RbacProblem[] } {
  const target = opts.target ?? TARGET;
  const problems: RbacProblem[] = [];
  const policies = objects
    .filter((o) => o.kind === "AuthorizationPolicy")
    .map((o) => {
      const t = translateAuthorizationPolicy(o, { rootNamespace: ROOT });
      if (!t.ok) throw new Error(JSON.stringify(t.error));
      return { t: t.value, raw: o };
    })
    .filter(({ t, raw }) => {
      const targets = policyTargets(t, raw);
      return targets !== undefined && attaches(t.key.split("/")[0]!, targets, target, ROOT);
    });
  const byKey = new Map(policies.map((p) => [p.t.key, p.raw]));
  const rbac = rbacFilters(
    policies.map((p) => p.t),
    problems,
    (k) => byKey.get(k),
    opts.tcp,
    opts.extAuthz,
  );
  const name =
    opts.name ?? `inbound-vip|80|${opts.tcp ? "tcp" : "http"}|${target.serviceName}.${target.serviceNamespace}.svc.cluster.local`;
  const address = { address: opts.ip ?? "10.0.0.10", portValue: opts.port ?? 80 };
  if (opts.tcp)
    return {
      problems,
      listener: { name, address, additionalAddresses: [], filter: { kind: "tcp", statPrefix: name, cluster: "c", networkFilters: rbac } },
    };
  const ras = objects
    .filter((o) => o.kind === "RequestAuthentication")
    .map((o) => parseRequestAuthentication(o)!)
    .filter((ra) =>
      ra.targetsUnreadable
        ? attaches(ra.namespace, "unreadable", target, ROOT)
        : ra.targetRefs && attaches(ra.namespace, ra.targetRefs, target, ROOT),
    );
  problems.push(...requestAuthnProblems(ras));
  const jwt = jwtFilter(ras, opts.jwks ?? (() => undefined));
  return {
    problems,
    listener: {
      name,
      address,
      additionalAddresses: [],
      filter: {
        kind: "http",
        statPrefix: name,
        codecType: "AUTO",
        routeConfigName: name,
        httpFilters: [...(jwt ? [jwt] : []), ...rbac],
        ...(opts.accessLog ? { accessLog: opts.accessLog } : {}),
      },
    },
  };
}

/** The control plane's Listener through Envoy's protobuf bytes into the waypoint's decoder. */
export function overTheWire(l: Listener): DecodedListener {
  const t = envoyTypes();
  const bytes = t.Listener.encode(t.Listener.fromObject(listenerJson(l))).finish();
  const d = decodeEnvoyResource(LISTENER_TYPE_URL, bytes, l.name);
  if (!d.ok) throw new Error(`waypoint NACK: ${JSON.stringify(d.error)}`);
  if (d.value.kind !== "listener" || !("filter" in d.value.value)) throw new Error("not a VIP listener");
  return d.value.value;
}
