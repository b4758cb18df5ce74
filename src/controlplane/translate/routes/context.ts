/**
 * What a route translator may look up, and what it reports back: the service a port belongs to,
 * backends resolved to cluster names (every cluster a route names is recorded so the waypoint is
 * sent it), ReferenceGrants for cross-namespace backendRefs, and warnings naming object and
 * field. One RouteContext per (waypoint, service port) translation; pure apart from reading the
 * store snapshot it is given.
 */
import type { KubeObject } from "../../../kube/object.js";
import { isPlainObject } from "../../../kube/validate/validate-schema.js";
import type { ReadStore } from "../../model/store.js";
import type { TranslateConfig } from "../translate-config.js";
import { serviceHostname } from "../translate-config.js";
import { serviceSpec } from "../service.js";
import { clusterName } from "./names.js";
import { serviceEntrySpec } from "../serviceentry.js";
import { externalHost, serviceEntryHasPort } from "./serviceentry-hosts.js";

/** A cluster some route needs: the service's port, optionally one DestinationRule subset. */
export interface ClusterRef {
  readonly namespace: string;
  readonly service: string;
  readonly hostname: string;
  readonly port: number;
  readonly subset: string;
}

export interface Problem {
  /** `Kind ns/name`. */
  readonly object: string;
  readonly field: string;
  readonly reason: string;
}

/** The service port being translated (the listener). */
export interface TargetPort {
  readonly namespace: string;
  readonly service: string;
  readonly hostname: string;
  readonly port: number;
  /** The Service port's name (Gateway API sectionName of a Service parentRef). */
  readonly portName: string;
  /** A ServiceEntry host (`service` names the entry): routes attach by parentRefs kind ServiceEntry. Absent: a Kubernetes Service. */
  readonly registry?: "External";
}

export class RouteContext {
  /** Cluster name -> what it is, for every cluster a translated route references. */
  readonly clusters = new Map<string, ClusterRef>();
  readonly warnings: Problem[] = [];

  constructor(
    readonly cfg: TranslateConfig,
    readonly store: ReadStore,
    readonly target: TargetPort,
    /** Namespace of the waypoint serving this port (Istio's config visibility: see attachment.ts). */
    readonly waypointNamespace: string,
  ) {}

  warn(o: KubeObject, field: string, reason: string): void {
    this.warnings.push({ object: `${o.kind} ${o.metadata.namespace ?? ""}/${o.metadata.name}`, field, reason });
  }

  service(namespace: string, name: string): KubeObject | undefined {
    return this.store.get(`/Service/${namespace}/${name}`);
  }

  /** The Service with this hostname, if it is a Service of the cluster. */
  serviceByHost(hostname: string): KubeObject | undefined {
    const suffix = `.svc.${this.cfg.clusterDomain}`;
    if (!hostname.endsWith(suffix)) return undefined;
    const parts = hostname.slice(0, -suffix.length).split(".");
    if (parts.length !== 2) return undefined;
    return this.service(parts[1]!, parts[0]!);
  }

  /** Records and names the cluster of a service port (and subset). */
  cluster(svc: KubeObject, port: number, subset = ""): string {
    const ns = svc.metadata.namespace ?? "";
    return this.hostCluster({
      namespace: ns,
      service: svc.metadata.name,
      hostname: serviceHostname(this.cfg, ns, svc.metadata.name),
      port,
      subset,
    });
  }

  /** Records and names the cluster of any host (a ServiceEntry host: `service` is the entry's name). */
  hostCluster(ref: ClusterRef): string {
    const name = clusterName(ref.port, ref.subset, ref.hostname);
    this.clusters.set(name, ref);
    return name;
  }

  /** The cluster of the port being translated (its own service or ServiceEntry host); undefined when the object is gone. */
  targetCluster(subset = ""): string | undefined {
    const t = this.target;
    if (t.registry === "External")
      return this.hostCluster({ namespace: t.namespace, service: t.service, hostname: t.hostname, port: t.port, subset });
    const svc = this.service(t.namespace, t.service);
    return svc ? this.cluster(svc, t.port, subset) : undefined;
  }

  /**
   * The cluster of a ServiceEntry host named by config of `namespace` (serviceentry-hosts.ts
   * externalHost), or a reason it has none.
   */
  externalCluster(host: string, port: number | undefined, subset: string, namespace: string): { cluster: string } | { reason: string } {
    const se = externalHost(this.store, host, namespace);
    if (!se) return { reason: `${host} is not a Service of this cluster nor a ServiceEntry host visible to namespace ${namespace}` };
    const ports = serviceEntrySpec(se).ports.map((p) => p.number);
    const p = port ?? (ports.length === 1 ? ports[0] : ports.includes(this.target.port) ? this.target.port : undefined);
    if (p === undefined) return { reason: `${host} has several ports: name one` };
    if (!serviceEntryHasPort(se, p)) return { reason: `${host} has no port ${p}` };
    return {
      cluster: this.hostCluster({ namespace: se.metadata.namespace ?? "", service: se.metadata.name, hostname: host, port: p, subset }),
    };
  }

  /** Whether a Service has this port. */
  hasPort(svc: KubeObject, port: number): boolean {
    return serviceSpec(svc).ports.some((p) => p.port === port && (p.protocol ?? "TCP") === "TCP");
  }

  /** See `referenceGranted` below. */
  referenceGranted(fromKind: string, fromNamespace: string, toNamespace: string, name: string): boolean {
    return referenceGranted(this.store, fromKind, fromNamespace, toNamespace, name);
  }
}

/**
 * Whether a ReferenceGrant in `toNamespace` lets routes of `fromKind` in `fromNamespace`
 * refer to the Service `name` (Gateway API ReferenceGrant; `to[].name` empty = every Service).
 */
export function referenceGranted(store: ReadStore, fromKind: string, fromNamespace: string, toNamespace: string, name: string): boolean {
  if (fromNamespace === toNamespace) return true;
  for (const g of store.list("gateway.networking.k8s.io/ReferenceGrant", toNamespace)) {
    const spec = isPlainObject(g.spec) ? g.spec : {};
    const from = Array.isArray(spec.from) ? spec.from : [];
    const to = Array.isArray(spec.to) ? spec.to : [];
    const fromOk = from.some(
      (f) => isPlainObject(f) && f.group === "gateway.networking.k8s.io" && f.kind === fromKind && f.namespace === fromNamespace,
    );
    const toOk = to.some(
      (t) =>
        isPlainObject(t) && (t.group ?? "") === "" && t.kind === "Service" && (t.name === undefined || t.name === "" || t.name === name),
    );
    if (fromOk && toOk) return true;
  }
  return false;
}
