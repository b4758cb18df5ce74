/**
 * ztunnel's static config file (like upstream ztunnel's local config): settings plus the
 * workloads and services it should know, so a ztunnel runs with no control plane. Pure
 * parsing and validation: the whole file is checked first and any error (naming the field
 * path) rejects it, so a bad file never half-applies. Unknown fields are errors.
 *
 * ```yaml
 * node: node-a
 * trustDomain: cluster.local
 * caDir: /var/lib/weft/ca          # local CA: sign local workloads' certificates in-process
 * bindAddress: 127.0.0.1           # admin, metrics, readiness, SOCKS5
 * outboundListeners: ["10.96.0.10:80"]
 * workloads: [{ uid, name, namespace, serviceAccount, node, addresses, tunnelProtocol, services }]
 * services: [{ name, namespace, hostname, addresses, ports: [{ servicePort, targetPort }] }]
 * ```
 */
import type { AppProtocol, PortMapping, Workload } from "../common/model/workload.js";
import type { Service } from "../common/model/service.js";
import { canonicalIp } from "../common/net/addr.js";
import { type Result, ok, err } from "../common/result.js";

export interface StaticSettings {
  readonly node?: string;
  readonly trustDomain?: string;
  readonly network?: string;
  readonly clusterId?: string;
  readonly caDir?: string;
  readonly bindAddress?: string;
  readonly outboundListeners?: readonly string[];
  readonly xdsAddress?: string;
  readonly ports?: Readonly<Record<string, number>>;
}

export interface StaticConfig {
  readonly settings: StaticSettings;
  readonly workloads: readonly Workload[];
  readonly services: readonly Service[];
}

export interface FieldError {
  readonly field: string;
  readonly reason: string;
}

const APP_PROTOCOLS: readonly AppProtocol[] = ["UNKNOWN", "HTTP11", "HTTP2", "GRPC", "TCP", "TLS"];
const PORT_NAMES = ["admin", "metrics", "readiness", "socks5", "outbound", "inbound", "hbone", "dns"];

class Checker {
  readonly errors: FieldError[] = [];
  fail(field: string, reason: string): undefined {
    this.errors.push({ field, reason });
    return undefined;
  }
  object(v: unknown, field: string, allowed: readonly string[]): Record<string, unknown> | undefined {
    if (typeof v !== "object" || v === null || Array.isArray(v)) return this.fail(field || "<root>", "must be a mapping");
    const o = v as Record<string, unknown>;
    for (const k of Object.keys(o))
      if (!allowed.includes(k)) this.fail(field ? `${field}.${k}` : k, `unknown field (known: ${allowed.join(", ")})`);
    return o;
  }
  string(v: unknown, field: string, required = false): string | undefined {
    if (v === undefined || v === null) return required ? this.fail(field, "required") : undefined;
    if (typeof v !== "string" || v === "") return this.fail(field, "must be a non-empty string");
    return v;
  }
  ip(v: unknown, field: string): string | undefined {
    const s = this.string(v, field, true);
    if (s === undefined) return undefined;
    const ip = canonicalIp(s);
    return ip ?? this.fail(field, `${JSON.stringify(s)} is not an IP address`);
  }
  port(v: unknown, field: string, allowZero = false): number | undefined {
    if (typeof v !== "number" || !Number.isInteger(v) || v < (allowZero ? 0 : 1) || v > 65535)
      return this.fail(field, `must be a port number ${allowZero ? 0 : 1}-65535`);
    return v;
  }
  array(v: unknown, field: string): unknown[] {
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) return this.fail(field, "must be a list") ?? [];
    return v;
  }
  oneOf<T extends string>(v: unknown, field: string, values: readonly T[], dflt: T): T {
    if (v === undefined) return dflt;
    if (typeof v !== "string" || !values.includes(v as T)) return this.fail(field, `must be one of ${values.join(", ")}`) ?? dflt;
    return v as T;
  }
}

function portMapping(c: Checker, v: unknown, field: string): PortMapping | undefined {
  const o = c.object(v, field, ["servicePort", "targetPort", "appProtocol"]);
  if (!o) return undefined;
  const servicePort = c.port(o.servicePort, `${field}.servicePort`);
  const targetPort = o.targetPort === undefined ? 0 : c.port(o.targetPort, `${field}.targetPort`, true);
  const appProtocol = c.oneOf(o.appProtocol, `${field}.appProtocol`, APP_PROTOCOLS, "UNKNOWN");
  if (servicePort === undefined || targetPort === undefined) return undefined;
  return { servicePort, targetPort, appProtocol };
}

const WORKLOAD_FIELDS = [
  "uid",
  "name",
  "namespace",
  "serviceAccount",
  "node",
  "addresses",
  "tunnelProtocol",
  "network",
  "trustDomain",
  "services",
  "status",
  "canonicalName",
  "canonicalRevision",
  "workloadName",
  "clusterId",
];

function parseWorkload(
  c: Checker,
  v: unknown,
  field: string,
  defaults: { trustDomain: string; clusterId: string; network: string },
): Workload | undefined {
  const o = c.object(v, field, WORKLOAD_FIELDS);
  if (!o) return undefined;
  const name = c.string(o.name, `${field}.name`, true);
  const namespace = c.string(o.namespace, `${field}.namespace`) ?? "default";
  const node = c.string(o.node, `${field}.node`, true);
  const addresses = c.array(o.addresses, `${field}.addresses`).map((a, i) => c.ip(a, `${field}.addresses[${i}]`));
  if (addresses.length === 0) c.fail(`${field}.addresses`, "at least one address is required");
  const services = new Map<string, PortMapping[]>();
  if (o.services !== undefined) {
    const svcs = c.object(o.services, `${field}.services`, Object.keys(o.services ?? {}));
    for (const [key, list] of Object.entries(svcs ?? {})) {
      if (!/^[^/\s]+\/[^/\s]+$/.test(key)) c.fail(`${field}.services[${key}]`, "key must be namespace/hostname");
      services.set(
        key,
        c
          .array(list, `${field}.services[${key}]`)
          .map((p, i) => portMapping(c, p, `${field}.services[${key}][${i}]`))
          .filter((p): p is PortMapping => !!p),
      );
    }
  }
  const clusterId = c.string(o.clusterId, `${field}.clusterId`) ?? defaults.clusterId;
  if (!name || !node || addresses.some((a) => a === undefined)) return undefined;
  return {
    uid: c.string(o.uid, `${field}.uid`) ?? `${clusterId}//Pod/${namespace}/${name}`,
    name,
    namespace,
    addresses: addresses as string[],
    network: c.string(o.network, `${field}.network`) ?? defaults.network,
    tunnelProtocol: c.oneOf(o.tunnelProtocol, `${field}.tunnelProtocol`, ["NONE", "HBONE"] as const, "HBONE"),
    trustDomain: c.string(o.trustDomain, `${field}.trustDomain`) ?? defaults.trustDomain,
    serviceAccount: c.string(o.serviceAccount, `${field}.serviceAccount`) ?? "default",
    node,
    canonicalName: c.string(o.canonicalName, `${field}.canonicalName`) ?? name,
    canonicalRevision: c.string(o.canonicalRevision, `${field}.canonicalRevision`) ?? "latest",
    workloadType: "POD",
    workloadName: c.string(o.workloadName, `${field}.workloadName`) ?? name,
    services,
    authorizationPolicies: [],
    status: c.oneOf(o.status, `${field}.status`, ["HEALTHY", "UNHEALTHY"] as const, "HEALTHY"),
    clusterId,
    networkMode: "STANDARD",
  };
}

function parseService(c: Checker, v: unknown, field: string, defaults: { network: string }): Service | undefined {
  const o = c.object(v, field, ["name", "namespace", "hostname", "addresses", "ports", "subjectAltNames"]);
  if (!o) return undefined;
  const name = c.string(o.name, `${field}.name`, true);
  const namespace = c.string(o.namespace, `${field}.namespace`) ?? "default";
  const hostname = c.string(o.hostname, `${field}.hostname`) ?? (name ? `${name}.${namespace}.svc.cluster.local` : undefined);
  const addresses = c.array(o.addresses, `${field}.addresses`).map((a, i) => c.ip(a, `${field}.addresses[${i}]`));
  const ports = c.array(o.ports, `${field}.ports`).map((p, i) => portMapping(c, p, `${field}.ports[${i}]`));
  const sans = c.array(o.subjectAltNames, `${field}.subjectAltNames`).map((s, i) => c.string(s, `${field}.subjectAltNames[${i}]`, true));
  if (!name || !hostname || addresses.some((a) => !a) || ports.some((p) => !p) || sans.some((s) => !s)) return undefined;
  return {
    name,
    namespace,
    hostname,
    addresses: (addresses as string[]).map((address) => ({ network: defaults.network, address })),
    ports: (ports as PortMapping[]).map((p) => ({
      servicePort: p.servicePort,
      targetPort: p.targetPort,
      appProtocol: p.appProtocol ?? "UNKNOWN",
    })),
    subjectAltNames: sans as string[],
  };
}

export function parseStaticConfig(doc: unknown): Result<StaticConfig, FieldError[]> {
  const c = new Checker();
  const o = c.object(doc ?? {}, "", [
    "node",
    "trustDomain",
    "network",
    "clusterId",
    "caDir",
    "bindAddress",
    "outboundListeners",
    "xdsAddress",
    "ports",
    "workloads",
    "services",
  ]);
  if (!o) return err(c.errors);
  const ports: Record<string, number> = {};
  if (o.ports !== undefined) {
    const p = c.object(o.ports, "ports", PORT_NAMES);
    for (const [k, v] of Object.entries(p ?? {})) {
      const port = c.port(v, `ports.${k}`);
      if (port !== undefined) ports[k] = port;
    }
  }
  const settings: StaticSettings = {
    node: c.string(o.node, "node"),
    trustDomain: c.string(o.trustDomain, "trustDomain"),
    network: c.string(o.network, "network"),
    clusterId: c.string(o.clusterId, "clusterId"),
    caDir: c.string(o.caDir, "caDir"),
    bindAddress: o.bindAddress === undefined ? undefined : c.ip(o.bindAddress, "bindAddress"),
    outboundListeners: c.array(o.outboundListeners, "outboundListeners").map((a, i) => c.string(a, `outboundListeners[${i}]`, true) ?? ""),
    xdsAddress: c.string(o.xdsAddress, "xdsAddress"),
    ports,
  };
  const defaults = {
    trustDomain: settings.trustDomain ?? "cluster.local",
    clusterId: settings.clusterId ?? "Kubernetes",
    network: settings.network ?? "",
  };
  const workloads = c.array(o.workloads, "workloads").map((w, i) => parseWorkload(c, w, `workloads[${i}]`, defaults));
  const services = c.array(o.services, "services").map((s, i) => parseService(c, s, `services[${i}]`, defaults));
  const seen = new Map<string, string>();
  workloads.forEach((w, i) => {
    for (const a of w?.addresses ?? []) {
      const prev = seen.get(a);
      if (prev) c.fail(`workloads[${i}].addresses`, `${a} is already used by ${prev}`);
      seen.set(a, `workloads[${i}]`);
    }
  });
  services.forEach((s, i) => {
    for (const a of s?.addresses ?? []) {
      const prev = seen.get(a.address);
      if (prev) c.fail(`services[${i}].addresses`, `${a.address} is already used by ${prev}`);
      seen.set(a.address, `services[${i}]`);
    }
  });
  if (c.errors.length) return err(c.errors);
  return ok({ settings, workloads: workloads as Workload[], services: services as Service[] });
}
