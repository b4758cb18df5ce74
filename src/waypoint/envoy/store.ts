/**
 * The waypoint's L7 configuration: the decoded listeners, route tables, clusters and endpoint
 * sets, and the one place that applies updates to them (from xDS or the static file). Each
 * update of a type applies all valid upserts and removals at once, or refuses the resources
 * that conflict (a second listener on an address another listener serves), so a request
 * always sees whole resources, never a half-applied one, and the last good version of a
 * rejected resource stays. References between resources (listener -> route table -> cluster
 * -> endpoints) are resolved per request, as Envoy does once warmed: a missing one is an error
 * response with Envoy's flag (NR, NC, UH), never a crash.
 */
import type { Result } from "../../common/result.js";
import { ok, err } from "../../common/result.js";
import type { ResourceError } from "../../common/xds/resource-error.js";
import type { Named, XdsSubscription } from "../../proxy/xds/subscription.js";
import { type DecodedListener, type DecodedOriginalDst, type EnvoyResource, decodeEnvoyResource } from "./decode.js";
import { chainCandidates } from "./filter-chain.js";
import type { Cluster, ClusterEndpoints, RouteTable } from "./types.js";
import { CLUSTER_TYPE_URL, ENDPOINT_TYPE_URL, LISTENER_TYPE_URL, ROUTE_TYPE_URL } from "../../common/xds/envoy-proto.js";

export type EnvoyKind = EnvoyResource["kind"];

/** Read-only lookups the request path uses. */
export interface L7View {
  listenerFor(ip: string, port: number): DecodedListener | undefined;
  /**
   * For an authority no VIP listener serves: the first `use_original_dst` listener (by name)
   * with filter chains for it, and those chains (filter-chain.ts decides among them).
   */
  originalDstFor(ip: string, port: number): { listener: DecodedOriginalDst; chains: DecodedOriginalDst["chains"] } | undefined;
  routeTable(name: string): RouteTable | undefined;
  cluster(name: string): Cluster | undefined;
  /** Endpoints of a cluster: its inline ones (STATIC), the EDS set named by its service name, or its resolved hosts (DNS). */
  endpointsOf(cluster: Cluster): ClusterEndpoints | undefined;
}

const key = (ip: string, port: number) => (ip.includes(":") ? `[${ip}]:${port}` : `${ip}:${port}`);

export class L7Store implements L7View {
  private readonly listeners = new Map<string, DecodedListener | DecodedOriginalDst>();
  private originalDst: DecodedOriginalDst[] = [];
  private readonly byAddress = new Map<string, string>();
  private readonly routes = new Map<string, RouteTable>();
  private readonly clusters = new Map<string, Cluster>();
  private readonly endpoints = new Map<string, ClusterEndpoints>();
  private readonly changeListeners = new Set<(kind: EnvoyKind) => void>();
  /** The resolved hosts of STRICT_DNS / LOGICAL_DNS clusters (upstream/dns-clusters.ts); none: such clusters have no hosts. */
  private dnsHosts: (cluster: string) => ClusterEndpoints | undefined = () => undefined;
  /** Monotonic per applied update, for the config dump. */
  version = 0;

  listenerFor(ip: string, port: number): DecodedListener | undefined {
    const n = this.byAddress.get(key(ip, port));
    const l = n === undefined ? undefined : this.listeners.get(n);
    return l && !("kind" in l) ? l : undefined;
  }
  originalDstFor(ip: string, port: number): { listener: DecodedOriginalDst; chains: DecodedOriginalDst["chains"] } | undefined {
    for (const listener of this.originalDst) {
      const chains = chainCandidates(listener.chains, ip, port);
      if (chains.length) return { listener, chains };
    }
    return undefined;
  }
  routeTable(name: string): RouteTable | undefined {
    return this.routes.get(name);
  }
  cluster(name: string): Cluster | undefined {
    return this.clusters.get(name);
  }
  endpointsOf(c: Cluster): ClusterEndpoints | undefined {
    const f = c.endpointsFrom;
    if (f.kind === "dns") return this.dnsHosts(c.name);
    return f.kind === "static" ? f.endpoints : f.kind === "eds" ? this.endpoints.get(f.serviceName) : undefined;
  }

  /** Where DNS clusters' hosts come from. */
  useDnsHosts(f: (cluster: string) => ClusterEndpoints | undefined): void {
    this.dnsHosts = f;
  }

  /** Every cluster, for resolvers that follow them. */
  allClusters(): Cluster[] {
    return [...this.clusters.values()];
  }

  clusterNames(): string[] {
    return [...this.clusters.keys()];
  }

  onChange(f: (kind: EnvoyKind) => void): void {
    this.changeListeners.add(f);
  }

  /** Applies one type's upserts and removals; conflicting upserts are refused and named. */
  apply(kind: EnvoyKind, upserts: Named<EnvoyResource>[], removals: readonly string[]): Result<void, ResourceError[]> {
    const errors: ResourceError[] = [];
    for (const u of upserts) {
      if (u.value.kind !== kind) errors.push({ resource: u.name, field: "type_url", reason: `a ${u.value.kind} in a ${kind} update` });
    }
    if (kind === "listener") {
      this.applyListeners(upserts, removals, errors);
      this.originalDst = [...this.listeners.values()]
        .filter((l): l is DecodedOriginalDst => "kind" in l)
        .sort((a, b) => (a.name < b.name ? -1 : 1));
    } else {
      const map: Map<string, unknown> = kind === "route" ? this.routes : kind === "cluster" ? this.clusters : this.endpoints;
      for (const n of removals) map.delete(n);
      for (const u of upserts) if (u.value.kind === kind) map.set(u.name, u.value.value);
    }
    this.version++;
    for (const f of this.changeListeners) f(kind);
    return errors.length ? err(errors) : ok(undefined);
  }

  private applyListeners(upserts: Named<EnvoyResource>[], removals: readonly string[], errors: ResourceError[]): void {
    for (const n of removals) this.dropListener(n);
    for (const u of upserts) {
      if (u.value.kind !== "listener") continue;
      const l = u.value.value;
      if ("kind" in l) {
        this.dropListener(l.name);
        this.listeners.set(l.name, l);
        continue;
      }
      const clash = l.addresses
        .map((a) => [a, this.byAddress.get(key(a.ip, a.port))] as const)
        .find(([, owner]) => owner !== undefined && owner !== l.name);
      if (clash) {
        errors.push({
          resource: l.name,
          field: "address",
          reason: `${key(clash[0].ip, clash[0].port)} is already served by listener ${clash[1]}`,
        });
        continue;
      }
      this.dropListener(l.name);
      this.listeners.set(l.name, l);
      for (const a of l.addresses) this.byAddress.set(key(a.ip, a.port), l.name);
    }
  }

  private dropListener(name: string): void {
    const old = this.listeners.get(name);
    if (!old) return;
    if (!("kind" in old))
      for (const a of old.addresses) if (this.byAddress.get(key(a.ip, a.port)) === name) this.byAddress.delete(key(a.ip, a.port));
    this.listeners.delete(name);
  }

  /** The four Envoy subscriptions, decoding at the edge and applying here. */
  subscriptions(): XdsSubscription<EnvoyResource>[] {
    const sub = (typeUrl: string, kind: EnvoyKind): XdsSubscription<EnvoyResource> => ({
      typeUrl,
      decode: (bytes, name) => decodeEnvoyResource(typeUrl, bytes, name),
      apply: (upserts, removals) => this.apply(kind, upserts, removals),
    });
    return [
      sub(LISTENER_TYPE_URL, "listener"),
      sub(ROUTE_TYPE_URL, "route"),
      sub(CLUSTER_TYPE_URL, "cluster"),
      sub(ENDPOINT_TYPE_URL, "endpoints"),
    ];
  }

  dump(): unknown {
    const sorted = <T>(m: Map<string, T>) => [...m.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([, v]) => v);
    // Compiled regexes dump as their RE2 source only.
    const plain = (v: unknown) => JSON.parse(JSON.stringify(v, (_k, x: unknown) => (x instanceof RegExp ? undefined : x))) as unknown;
    return {
      version: this.version,
      listeners: plain(sorted(this.listeners)),
      routeConfigs: plain(sorted(this.routes)),
      clusters: sorted(this.clusters),
      endpoints: sorted(this.endpoints),
    };
  }
}
