/**
 * Everything each waypoint is sent (WAYPOINT-CONTRACT.md "Resource naming and shape"): for each
 * service bound to the waypoint (its `waypoint` in the mesh model names the waypoint's service
 * hostname) and each TCP port of it, a Listener on the service VIPs, for HTTP ports a
 * RouteConfiguration, and the Clusters and ClusterLoadAssignments every route names.
 *
 * Which routes a service port gets (attachment and precedence):
 * - Gateway API routes whose parentRef is the Service (gateway-rule.ts attachesTo): producer
 *   routes (in the service's namespace) always; consumer routes (another namespace) only at a
 *   waypoint in the route's own namespace. That is Istio ambient's behaviour: a route is visible
 *   to proxies of its namespace (exportTo), the service's waypoint lives with the producer, so
 *   a consumer route from elsewhere does not apply there (docs/routing.md).
 * - GRPCRoute matches first, then HTTPRoute matches, each sorted by Gateway API precedence.
 * - Else the oldest VirtualService for the hostname, in its own order. When both kinds target
 *   the service, the Gateway API routes apply and the VirtualService is reported (Istio: mixing
 *   them "is not supported and leads to undefined behavior"; weft picks Gateway API, Istio's
 *   recommended API for waypoints, and says so).
 * - Else one `default` route to the service's own cluster.
 *
 * Never drops what routed before on a translation failure: a route object whose translation
 * throws keeps its last good result for that port (and the failure is reported).
 */
import type { Service } from "../../../common/model/service.js";
import type { Workload } from "../../../common/model/workload.js";
import type { KubeObject } from "../../../kube/object.js";
import { objectKey } from "../../../kube/object.js";
import { isPlainObject } from "../../../kube/validate/validate-schema.js";
import type { ReadStore } from "../../model/store.js";
import type { TranslateConfig } from "../translate-config.js";
import { serviceHostname } from "../translate-config.js";
import { SERVICE_KIND, serviceSpec } from "../service.js";
import { GATEWAY_KIND, type Waypoint, waypointOf } from "../waypoint.js";
import { type ClusterRef, type Problem, RouteContext } from "./context.js";
import type { WaypointTarget } from "../waypoint-rbac.js";
import type {
  Cluster,
  ClusterLoadAssignment,
  HttpFilterConfig,
  Listener,
  ListenerAccessLog,
  Route,
  RouteConfiguration,
  WaypointResources,
} from "./envoy-types.js";
import { attachesTo } from "./gateway-rule.js";
import { translateGrpcRoute } from "./grpcroute.js";
import { translateHttpRoute } from "./httproute.js";
import { buildCluster, buildLoadAssignment, destinationRulesFor, endpointIndex, subsetsOf, topologyLabels } from "./clusters.js";
import { clusterPolicy } from "./cluster-policy.js";
import { withHashPolicies } from "./hash-policy.js";
import { type ProxyPlace, applyLocalityLb } from "./locality-lb.js";
import { type PolicyParts, consistentHashFor, effectivePolicy } from "./traffic-policy.js";
import { DEFAULT_RETRY_POLICY, hashAwareRetry, timeoutFields } from "./resilience.js";
import { LOCAL_RATE_LIMIT_KIND, RATE_LIMIT_FILTER, rateLimitFor } from "./ratelimit.js";
import { listenerName, objectName, objectOrder, portProtocol } from "./names.js";
import { byPrecedence, compareGrpc, compareHttp } from "./precedence.js";
import { translateVirtualService, virtualServiceApplies } from "./virtualservice.js";
import { TELEMETRY_KIND, accessLoggingFor, telemetryChain, tracingFor } from "../telemetry.js";
import { listenerTracing } from "./tracing.js";
import { addExtAuthzClusters } from "../waypoint-ext-authz.js";
import { ENCAP, directListener, workloadsBoundTo } from "./workload-traffic.js";
import { httpPoolOf, istioProtocol, upstreamProtocol } from "./upstream-protocol.js";
import { dnsCluster, parentKey, serviceOrigin, withServiceEntryProtocol } from "./serviceentry-hosts.js";

export const HTTPROUTE_KIND = "gateway.networking.k8s.io/HTTPRoute";
export const GRPCROUTE_KIND = "gateway.networking.k8s.io/GRPCRoute";
export const VIRTUAL_SERVICE_KIND = "networking.istio.io/VirtualService";

export interface WaypointInputs {
  readonly cfg: TranslateConfig;
  readonly store: ReadStore;
  readonly services: ReadonlyMap<string, Service>;
  readonly workloads: ReadonlyMap<string, Workload>;
  /** Authorization filters for one listener of a service at a waypoint (HTTP filters, or network filters for TCP); none when absent. */
  readonly httpFilters?: (target: WaypointTarget, protocol?: "http" | "tcp") => readonly HttpFilterConfig[];
}

export interface WaypointTranslation {
  /** `ns/gateway` -> its resources. */
  readonly waypoints: ReadonlyMap<string, WaypointResources>;
  readonly problems: readonly Problem[];
}

/** Keeps each route object's last good translation per listener (see header). */
export class WaypointTranslator {
  private readonly lastGood = new Map<string, readonly unknown[]>();
  /** Each Telemetry's last readable `accessLogging` (telemetry.ts accessLoggingFor). */
  private readonly lastGoodLogging: Parameters<typeof accessLoggingFor>[3] = new Map();

  translate(inputs: WaypointInputs): WaypointTranslation {
    const { cfg, store } = inputs;
    const problems: Problem[] = [];
    const byHost = new Map<string, Waypoint>();
    for (const gw of store.list(GATEWAY_KIND)) {
      const w = waypointOf(cfg, gw);
      if (w) byHost.set(serviceHostname(cfg, w.namespace, w.name), w);
    }
    const out = new Map<
      string,
      { waypoint: Waypoint; listeners: Listener[]; routes: RouteConfiguration[]; clusters: Map<string, ClusterRef> }
    >();
    for (const w of byHost.values()) out.set(`${w.namespace}/${w.name}`, { waypoint: w, listeners: [], routes: [], clusters: new Map() });
    // Tracing and access logging per waypoint (Telemetry + mesh config): on each HTTP listener,
    // tracing with its collector's cluster.
    const telemetries = store.list(TELEMETRY_KIND);
    const tracing = new Map<string, ReturnType<typeof listenerTracing>>();
    const accessLog = new Map<string, { accessLog?: ListenerAccessLog[] }>();
    for (const w of byHost.values()) {
      const chain = telemetryChain(telemetries, cfg.rootNamespace, w, problems);
      const t = tracingFor(cfg.mesh, chain, w, problems);
      const lt = t ? listenerTracing(cfg, store, t, problems) : undefined;
      tracing.set(`${w.namespace}/${w.name}`, lt);
      const logs = accessLoggingFor(cfg.mesh, chain, problems, this.lastGoodLogging).map(({ path, encoding }) => ({ path, encoding }));
      accessLog.set(`${w.namespace}/${w.name}`, logs.length ? { accessLog: logs } : {});
      if (lt) out.get(`${w.namespace}/${w.name}`)!.clusters.set(lt.cluster[0], lt.cluster[1]);
    }
    const httpRoutes = store.list(HTTPROUTE_KIND);
    const grpcRoutes = store.list(GRPCROUTE_KIND);
    // Routes by the Service (`ns/name`) a parentRef names: each service port looks at its own only.
    const httpByParent = byParentService(httpRoutes);
    const grpcByParent = byParentService(grpcRoutes);
    const virtualServices = store.list(VIRTUAL_SERVICE_KIND).sort(objectOrder);
    const rateLimits = store.list(LOCAL_RATE_LIMIT_KIND);
    for (const r of [...httpRoutes, ...grpcRoutes]) {
      const spec = isPlainObject(r.spec) ? r.spec : {};
      for (const [i, p] of (Array.isArray(spec.parentRefs) ? spec.parentRefs : []).entries()) {
        if (
          !isPlainObject(p) ||
          (p.kind ?? "Gateway") !== "Gateway" ||
          (p.group ?? "gateway.networking.k8s.io") !== "gateway.networking.k8s.io"
        )
          continue;
        const ns = typeof p.namespace === "string" ? p.namespace : (r.metadata.namespace ?? "");
        if (byHost.has(serviceHostname(cfg, ns, String(p.name))))
          problems.push({
            object: objectName(r),
            field: `spec.parentRefs[${i}]`,
            reason: `routes attached to the waypoint Gateway ${ns}/${String(p.name)} itself do not apply (Istio: its HBONE listener takes no routes; status NotAllowedByListeners): attach them to the Service (parentRefs kind Service)`,
          });
      }
    }

    for (const svc of [...inputs.services.values()].sort((a, b) => (a.hostname < b.hostname ? -1 : 1))) {
      if (svc.waypoint?.kind !== "hostname") continue;
      const w = byHost.get(svc.waypoint.hostname);
      if (!w) continue;
      const acc = out.get(`${w.namespace}/${w.name}`)!;
      // A Kubernetes Service or a ServiceEntry host (egress through a waypoint: serviceentry-hosts.ts).
      const origin = serviceOrigin(cfg, store, svc);
      if (!origin || svc.addresses.length === 0) continue;
      const { registry, portNames } = origin;
      for (const port of svc.ports) {
        const proto = portProtocol(port.appProtocol);
        const name = listenerName(port.servicePort, proto.kind, svc.hostname);
        const ctx = new RouteContext(
          cfg,
          store,
          {
            namespace: svc.namespace,
            service: svc.name,
            hostname: svc.hostname,
            port: port.servicePort,
            portName: portNames.get(port.servicePort) ?? "",
            ...(registry === "External" ? { registry } : {}),
          },
          w.namespace,
        );
        const own = ctx.targetCluster()!;
        const [first, ...rest] = svc.addresses.map((a) => ({ address: a.address, portValue: port.servicePort }));
        if (proto.kind === "tcp") {
          const target = { waypointNamespace: w.namespace, waypointName: w.name, serviceNamespace: svc.namespace, serviceName: svc.name };
          const networkFilters = inputs.httpFilters?.({ ...target, registry }, "tcp") ?? [];
          acc.listeners.push({
            name,
            address: first!,
            additionalAddresses: rest,
            filter: { kind: "tcp", statPrefix: name, cluster: own, ...(networkFilters.length ? { networkFilters } : {}) },
          });
        } else {
          acc.listeners.push({
            name,
            address: first!,
            additionalAddresses: rest,
            filter: {
              kind: "http",
              statPrefix: name,
              codecType: proto.codec,
              routeConfigName: name,
              ...(tracing.get(`${w.namespace}/${w.name}`) ? { tracing: tracing.get(`${w.namespace}/${w.name}`)!.tracing } : {}),
              ...accessLog.get(`${w.namespace}/${w.name}`),
              ...authzFilters(inputs, {
                waypointNamespace: w.namespace,
                waypointName: w.name,
                serviceNamespace: svc.namespace,
                serviceName: svc.name,
                registry,
              }),
            },
          });
          const key = parentKey(registry, svc.namespace, svc.name);
          const routes = this.routesFor(
            ctx,
            name,
            svc,
            httpByParent.get(key) ?? [],
            grpcByParent.get(key) ?? [],
            virtualServices,
            problems,
          );
          // DestinationRule consistentHash -> each route's hash_policy, per destination (Istio's LookupHash).
          const hashFor = (cluster: string) => {
            const ref = ctx.clusters.get(cluster);
            const dr = ref ? destinationRulesFor(store, ref.hostname, cfg.clusterDomain, w.namespace)[0] : undefined;
            return ref && dr && isPlainObject(dr.spec) ? consistentHashFor(dr.spec, ref.port, ref.subset) : undefined;
          };
          const limit = rateLimitFor(rateLimits, svc.namespace, svc.name, problems);
          acc.routes.push({
            name,
            virtualHosts: [
              {
                name: `${svc.hostname}:${port.servicePort}`,
                domains: ["*"],
                ...(limit ? { typedPerFilterConfig: { [RATE_LIMIT_FILTER]: limit } } : {}),
                routes: withHashPolicies(
                  routes ?? [
                    // Istio's BuildDefaultHTTPOutboundRoute: no timeout, the default retry policy.
                    {
                      name: "default",
                      match: { prefix: "/" },
                      route: { cluster: own, ...timeoutFields(undefined), retryPolicy: DEFAULT_RETRY_POLICY },
                    },
                  ],
                  hashFor,
                ).map(hashAwareRetry),
              },
            ],
          });
        }
        // DestinationRule subsets of a bound service get clusters on every port (Istio builds them all).
        for (const s of subsetsOf(destinationRulesFor(store, svc.hostname, cfg.clusterDomain, w.namespace)[0])) ctx.targetCluster(s.name);
        for (const [k, v] of ctx.clusters) acc.clusters.set(k, v);
        problems.push(...ctx.warnings);
      }
    }

    const byWaypoint = new Map([...byHost.values()].map((w) => [`${w.namespace}/${w.name}`, w]));
    const waypoints = new Map<string, WaypointResources>();
    const index = out.size ? endpointIndex(inputs.workloads) : new Map();
    const reported = new Set<string>();
    const report = (p: Problem) => {
      const k = `${p.object}|${p.field}|${p.reason}`;
      if (!reported.has(k)) problems.push(p);
      reported.add(k);
    };
    // Locality-relative endpoint assignments (failover priorities) and the plain ones, to undo
    // them for a cluster that waypoints in different localities share (one resource per name).
    const plain = new Map<string, ClusterLoadAssignment>();
    const relative = new Map<string, Set<string>>();
    for (const [key, acc] of out) {
      const place = waypointPlace(inputs, acc.waypoint, report);
      for (const l of acc.listeners)
        if (l.filter?.kind === "http") addExtAuthzClusters(acc.clusters, l.filter.httpFilters, cfg.clusterDomain);
      const clusters: Cluster[] = [];
      const endpoints: ClusterLoadAssignment[] = [];
      for (const [name, ref] of [...acc.clusters].sort(([a], [b]) => (a < b ? -1 : 1))) {
        const drs = destinationRulesFor(store, ref.hostname, cfg.clusterDomain, key.split("/")[0]);
        const subset = ref.subset ? subsetsOf(drs[0]).find((s) => s.name === ref.subset) : undefined;
        if (ref.subset && !subset) {
          problems.push({
            object: drs[0] ? objectName(drs[0]) : `Service ${ref.namespace}/${ref.service}`,
            field: "spec.subsets",
            reason: `no subset ${ref.subset} for ${ref.hostname}: requests routed to it get 503`,
          });
          continue;
        }
        const parts = effectivePolicy(drs[0] && isPlainObject(drs[0].spec) ? drs[0].spec : undefined, ref.port, ref.subset);
        const policy = clusterPolicy(parts);
        for (const u of policy.unsupported)
          report({
            object: objectName(drs[0]!),
            field: `spec.trafficPolicy.${u.field}`,
            reason: `${u.reason} (cluster ${name}; the subset's and the port's settings included)`,
          });
        const built = withUpstreamProtocol(buildCluster(name, ref, policy), ref, store, parts);
        // A ServiceEntry host with resolution DNS: a DNS cluster with its endpoints inline, no EDS.
        const dns = dnsCluster(built, ref, store, inputs.workloads);
        clusters.push(dns ?? built);
        if (dns) continue;
        const cla = buildLoadAssignment(name, ref, index, store, subset);
        plain.set(name, cla);
        const lb = parts?.loadBalancer;
        const localized = place
          ? applyLocalityLb(cla, place, isPlainObject(lb?.localityLbSetting) ? lb.localityLbSetting : undefined, policy.outlierDetection)
          : cla;
        if (localized !== cla) {
          const seen = relative.get(name) ?? new Set<string>();
          seen.add(JSON.stringify(localized));
          relative.set(name, seen);
        }
        endpoints.push(localized);
      }
      const w = byWaypoint.get(key)!;
      const host = serviceHostname(cfg, w.namespace, w.name);
      // Workload-addressed traffic is authorized by the policies bound to the waypoint itself
      // (Gateway / GatewayClass targetRefs): no Service is its target.
      const self = { waypointNamespace: w.namespace, waypointName: w.name, serviceNamespace: w.namespace, serviceName: "" };
      const direct = directListener(host, workloadsBoundTo(inputs.workloads.values(), w.namespace, host), w.address.hboneMtlsPort, {
        http: inputs.httpFilters?.({ ...self, registry: "Kubernetes" }) ?? [],
        network: inputs.httpFilters?.({ ...self, registry: "Kubernetes" }, "tcp") ?? [],
        ...accessLog.get(key),
      });
      if (direct) clusters.push(ENCAP);
      waypoints.set(key, { listeners: direct ? [...acc.listeners, direct] : acc.listeners, routes: acc.routes, clusters, endpoints });
    }
    for (const [name, variants] of relative) {
      if (variants.size < 2) continue;
      report({
        object: `Cluster ${name}`,
        field: "localityLbSetting",
        reason:
          "waypoints in different localities share this cluster: locality failover is not applied to it (weft sends one assignment per cluster)",
      });
      for (const [k, r] of waypoints)
        waypoints.set(k, { ...r, endpoints: r.endpoints.map((e) => (e.clusterName === name ? plain.get(name)! : e)) });
    }
    return { waypoints, problems };
  }

  /** The ordered routes of one HTTP service port, or undefined for the default route. */
  private routesFor(
    ctx: RouteContext,
    listener: string,
    svc: Service,
    httpRoutes: readonly KubeObject[],
    grpcRoutes: readonly KubeObject[],
    virtualServices: readonly KubeObject[],
    problems: Problem[],
  ): Route[] | undefined {
    const visible = (r: KubeObject) =>
      attachesTo(r, ctx) && ((r.metadata.namespace ?? "") === svc.namespace || r.metadata.namespace === ctx.waypointNamespace);
    const grpc = grpcRoutes.filter(visible);
    const http = httpRoutes.filter(visible);
    for (const r of [...grpcRoutes, ...httpRoutes]) {
      if (attachesTo(r, ctx) && !visible(r))
        problems.push({
          object: objectName(r),
          field: "spec.parentRefs",
          reason: `consumer route for ${svc.hostname} does not apply at its waypoint in namespace ${ctx.waypointNamespace} (Istio ambient: only producer routes and routes of the waypoint's namespace)`,
        });
    }
    const vs = virtualServices.filter((v) => virtualServiceApplies(v, svc.hostname, ctx.cfg.clusterDomain, ctx.waypointNamespace));
    if (grpc.length + http.length > 0) {
      for (const v of vs)
        problems.push({
          object: objectName(v),
          field: "spec.hosts",
          reason: `ignored for ${svc.hostname}: ${objectName([...grpc, ...http][0]!)} also targets it, and Gateway API routes take precedence (Istio: mixing both is unsupported)`,
        });
      const g = byPrecedence(
        grpc.flatMap((r) => this.guard(r, listener, ctx, problems, () => translateGrpcRoute(r, ctx))),
        compareGrpc,
      );
      const h = byPrecedence(
        http.flatMap((r) => this.guard(r, listener, ctx, problems, () => translateHttpRoute(r, ctx))),
        compareHttp,
      );
      return [...g, ...h].map((x) => x.envoy);
    }
    if (vs.length === 0) return undefined;
    for (const v of vs.slice(1))
      problems.push({
        object: objectName(v),
        field: "spec.hosts",
        reason: `ignored for ${svc.hostname}: ${objectName(vs[0]!)} is older and applies (one VirtualService per host)`,
      });
    return this.guard(vs[0]!, listener, ctx, problems, () => translateVirtualService(vs[0]!, ctx).map((envoy) => ({ envoy }))).map(
      (x) => x.envoy,
    );
  }

  private guard<T extends { envoy: Route }>(o: KubeObject, listener: string, ctx: RouteContext, problems: Problem[], f: () => T[]): T[] {
    const key = `${objectKey(o)}|${listener}`;
    try {
      const r = f();
      this.lastGood.set(key, r);
      return r;
    } catch (e) {
      problems.push({
        object: objectName(o),
        field: "spec",
        reason: `translation failed (${(e as Error).message}); keeping its last good routes`,
      });
      return [...((this.lastGood.get(key) ?? []) as T[])];
    }
  }
}

/**
 * Where a waypoint runs (its pods: the workloads of its own service), for locality load
 * balancing. Pods in several localities cannot share one relative assignment: reported, and
 * no locality is used (Istio computes one per pod; weft serves one per waypoint).
 */
function waypointPlace(inputs: WaypointInputs, w: Waypoint, report: (p: Problem) => void): ProxyPlace | undefined {
  const key = `${w.namespace}/${serviceHostname(inputs.cfg, w.namespace, w.name)}`;
  const pods = [...inputs.workloads.values()].filter((x) => x.services.has(key)).sort((a, b) => (a.uid < b.uid ? -1 : 1));
  if (pods.length === 0) return undefined;
  const loc = (x: Workload) => ({ region: x.locality?.region ?? "", zone: x.locality?.zone ?? "", subZone: x.locality?.subzone ?? "" });
  const places = new Set(pods.map((x) => JSON.stringify(loc(x))));
  if (places.size > 1) {
    report({
      object: `Gateway ${w.namespace}/${w.name}`,
      field: "pods",
      reason: `waypoint pods run in ${places.size} localities: locality load balancing is not applied for this waypoint`,
    });
    return undefined;
  }
  return { locality: loc(pods[0]!), labels: topologyLabels(inputs.store, pods[0]!) };
}

/** The listener's HTTP filters from the authorization hook, left out when there are none. */
function authzFilters(inputs: WaypointInputs, t: WaypointTarget): { httpFilters?: readonly HttpFilterConfig[] } {
  const f = inputs.httpFilters?.(t) ?? [];
  return f.length ? { httpFilters: f } : {};
}

/** The cluster with the upstream HTTP protocol istiod would give it (upstream-protocol.ts). */
function withUpstreamProtocol(c: Cluster, ref: ClusterRef, store: ReadStore, parts: PolicyParts | undefined): Cluster {
  const svc = store.get(`${SERVICE_KIND}/${ref.namespace}/${ref.service}`);
  const port = svc ? serviceSpec(svc).ports.find((p) => p.port === ref.port && (p.protocol ?? "TCP") === "TCP") : undefined;
  if (!port) return withServiceEntryProtocol(c, ref, store);
  const p = upstreamProtocol(istioProtocol(port), httpPoolOf(parts));
  return p ? { ...c, upstreamProtocol: p } : c;
}

/** Routes indexed by every Service (`ns/name`) one of their parentRefs names (attachesTo decides the port). */
function byParentService(routes: readonly KubeObject[]): Map<string, KubeObject[]> {
  const out = new Map<string, KubeObject[]>();
  for (const r of routes) {
    const spec = isPlainObject(r.spec) ? r.spec : {};
    const keys = new Set<string>();
    for (const p of Array.isArray(spec.parentRefs) ? spec.parentRefs : []) {
      if (isPlainObject(p) && (p.kind === "Service" || p.kind === "ServiceEntry"))
        keys.add(
          parentKey(
            p.kind === "Service" ? "Kubernetes" : "External",
            typeof p.namespace === "string" ? p.namespace : (r.metadata.namespace ?? ""),
            String(p.name),
          ),
        );
    }
    for (const k of keys) {
      const l = out.get(k);
      if (l) l.push(r);
      else out.set(k, [r]);
    }
  }
  return out;
}
