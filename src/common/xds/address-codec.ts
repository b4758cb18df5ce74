/**
 * Codec for `istio.workload.Address` (a Workload or a Service), the xDS edge between the wire
 * and the domain types of src/common/model. Encoding is total for valid domain objects;
 * decoding validates everything a later stage relies on and returns every problem of the
 * resource at once, each naming the resource and the proto field:
 *  - IPs must be 4 or 16 bytes (domain: canonical text);
 *  - workload uid, name, namespace; service name, namespace, hostname are required;
 *  - ports must fit 1..65535 (target ports 0..65535, 0 meaning "same as the service port");
 *  - enums must be values this build knows (an unknown number is an error, not a default);
 *  - service keys in Workload.services must be `namespace/hostname`.
 * Upstream defaults are applied: an elided trust_domain is cluster.local, an elided
 * service_account is "default" (istio/ztunnel src/state/workload.rs).
 * Pure: no IO, no logging.
 */
import type { AppProtocol, GatewayAddress, PortMapping, Workload } from "../model/workload.js";
import type { LoadBalancingMode, LoadBalancingScope, Service } from "../model/service.js";
import { serviceKey } from "../model/service.js";
import { DEFAULT_TRUST_DOMAIN } from "../spiffe.js";
import { type Result, ok, err } from "../result.js";
import { ipFromBytes, ipToBytes } from "./ip-bytes.js";
import { protoTypes } from "./proto.js";
import type { ResourceError } from "./resource-error.js";

export type AddressResource = { kind: "workload"; value: Workload } | { kind: "service"; value: Service };

const TUNNEL = ["NONE", "HBONE", "LEGACY_ISTIO_MTLS"] as const;
const WORKLOAD_TYPE = ["DEPLOYMENT", "CRONJOB", "POD", "JOB"] as const;
const STATUS = ["HEALTHY", "UNHEALTHY"] as const;
const NETWORK_MODE = ["STANDARD", "HOST_NETWORK"] as const;
const VISIBILITY = ["PUBLIC", "NAMESPACE"] as const;
const APP_PROTOCOL = ["UNKNOWN", "HTTP11", "HTTP2", "GRPC", "TCP", "TLS"] as const;
const LB_SCOPE = ["UNSPECIFIED_SCOPE", "REGION", "ZONE", "SUBZONE", "NODE", "CLUSTER", "NETWORK"] as const;
const LB_MODE = ["UNSPECIFIED_MODE", "STRICT", "FAILOVER", "PASSTHROUGH"] as const;
const HEALTH_POLICY = ["ONLY_HEALTHY", "ALLOW_ALL"] as const;

/** The wire shapes this codec reads (protobufjs messages, camelCase fields). */
interface WirePort {
  servicePort?: number;
  targetPort?: number;
  appProtocol?: number;
}
interface WireNetworkAddress {
  network?: string;
  address?: Uint8Array;
}
interface WireGateway {
  hostname?: { namespace?: string; hostname?: string } | null;
  address?: WireNetworkAddress | null;
  hboneMtlsPort?: number;
}
interface WireWorkload {
  uid?: string;
  name?: string;
  namespace?: string;
  addresses?: Uint8Array[];
  hostname?: string;
  network?: string;
  tunnelProtocol?: number;
  trustDomain?: string;
  serviceAccount?: string;
  waypoint?: WireGateway | null;
  node?: string;
  canonicalName?: string;
  canonicalRevision?: string;
  workloadType?: number;
  workloadName?: string;
  services?: Record<string, { ports?: WirePort[] }>;
  authorizationPolicies?: string[];
  status?: number;
  clusterId?: string;
  locality?: { region?: string; zone?: string; subzone?: string } | null;
  networkMode?: number;
  capacity?: { value?: number } | null;
}
interface WireService {
  name?: string;
  namespace?: string;
  hostname?: string;
  addresses?: WireNetworkAddress[];
  ports?: WirePort[];
  subjectAltNames?: string[];
  waypoint?: WireGateway | null;
  loadBalancing?: { routingPreference?: number[]; mode?: number; healthPolicy?: number } | null;
  visibility?: number;
}

/** Collects the problems of one resource while it is decoded. */
class Problems {
  readonly list: ResourceError[] = [];
  constructor(public resource: string) {}
  add(field: string, reason: string): void {
    this.list.push({ resource: this.resource, field, reason });
  }
  enumValue<T extends string>(values: readonly T[], n: number | undefined, field: string): T {
    const v = values[n ?? 0];
    if (v === undefined) {
      this.add(field, `unknown enum value ${n}`);
      return values[0]!;
    }
    return v;
  }
  ip(b: Uint8Array | undefined, field: string): string {
    const ip = ipFromBytes(b ?? new Uint8Array());
    if (ip === undefined) this.add(field, `ip must be 4 or 16 bytes, got ${b?.length ?? 0}`);
    return ip ?? "";
  }
  required(v: string | undefined, field: string): string {
    if (!v) this.add(field, "required");
    return v ?? "";
  }
  port(p: number | undefined, field: string, allowZero: boolean): number {
    const v = p ?? 0;
    if (v > 65535 || (!allowZero && v === 0)) this.add(field, `invalid port ${v}`);
    return v;
  }
}

function ipBytes(text: string, what: string): Uint8Array {
  const b = ipToBytes(text);
  // Encoding is only ever given validated domain objects: a bad IP here is a programming error.
  if (!b) throw new Error(`xds codec: ${what}: ${JSON.stringify(text)} is not an IP address`);
  return b;
}

function encodeGateway(g: GatewayAddress, what: string): object {
  return g.kind === "hostname"
    ? { hostname: { namespace: g.namespace, hostname: g.hostname }, hboneMtlsPort: g.hboneMtlsPort }
    : { address: { network: g.network, address: ipBytes(g.address, what) }, hboneMtlsPort: g.hboneMtlsPort };
}

function encodePort(p: { servicePort: number; targetPort: number; appProtocol?: AppProtocol }): WirePort {
  return { servicePort: p.servicePort, targetPort: p.targetPort, appProtocol: APP_PROTOCOL.indexOf(p.appProtocol ?? "UNKNOWN") };
}

function workloadToWire(w: Workload): object {
  const services: Record<string, { ports: WirePort[] }> = {};
  for (const [k, ports] of w.services) services[k] = { ports: ports.map(encodePort) };
  return {
    uid: w.uid,
    name: w.name,
    namespace: w.namespace,
    addresses: w.addresses.map((a, i) => ipBytes(a, `workload ${w.uid} addresses[${i}]`)),
    hostname: w.hostname ?? "",
    network: w.network,
    tunnelProtocol: TUNNEL.indexOf(w.tunnelProtocol),
    trustDomain: w.trustDomain,
    serviceAccount: w.serviceAccount,
    ...(w.waypoint ? { waypoint: encodeGateway(w.waypoint, `workload ${w.uid} waypoint`) } : {}),
    node: w.node,
    canonicalName: w.canonicalName,
    canonicalRevision: w.canonicalRevision,
    workloadType: WORKLOAD_TYPE.indexOf(w.workloadType),
    workloadName: w.workloadName,
    services,
    authorizationPolicies: [...w.authorizationPolicies],
    status: STATUS.indexOf(w.status),
    clusterId: w.clusterId,
    ...(w.locality ? { locality: w.locality } : {}),
    networkMode: NETWORK_MODE.indexOf(w.networkMode),
    ...(w.capacity !== undefined ? { capacity: { value: w.capacity } } : {}),
  };
}

function serviceToWire(s: Service): object {
  const key = serviceKey(s);
  return {
    name: s.name,
    namespace: s.namespace,
    hostname: s.hostname,
    addresses: s.addresses.map((a, i) => ({ network: a.network, address: ipBytes(a.address, `service ${key} addresses[${i}]`) })),
    ports: s.ports.map(encodePort),
    subjectAltNames: [...s.subjectAltNames],
    ...(s.waypoint ? { waypoint: encodeGateway(s.waypoint, `service ${key} waypoint`) } : {}),
    ...(s.loadBalancing
      ? {
          loadBalancing: {
            routingPreference: s.loadBalancing.routingPreference.map((x) => LB_SCOPE.indexOf(x)),
            mode: LB_MODE.indexOf(s.loadBalancing.mode),
            healthPolicy: HEALTH_POLICY.indexOf(s.loadBalancing.healthPolicy),
          },
        }
      : {}),
    ...(s.visibility === "NAMESPACE" ? { visibility: VISIBILITY.indexOf(s.visibility) } : {}),
  };
}

/** Wire bytes of an `istio.workload.Address` holding `r`. `r` must be a valid domain object. */
export function encodeAddress(r: AddressResource): Uint8Array {
  const msg = r.kind === "workload" ? { workload: workloadToWire(r.value) } : { service: serviceToWire(r.value) };
  return protoTypes().Address.encode(msg).finish();
}

/** The xDS resource name of an address: workload uid or service `namespace/hostname`. */
export function addressName(r: AddressResource): string {
  return r.kind === "workload" ? r.value.uid : serviceKey(r.value);
}

/** Alias names (`network/IP`) of an address, as upstream sends in Resource.aliases. */
export function addressAliases(r: AddressResource): string[] {
  return r.kind === "workload"
    ? r.value.addresses.map((a) => `${r.value.network}/${a}`)
    : r.value.addresses.map((a) => `${a.network}/${a.address}`);
}

function decodeGateway(g: WireGateway, field: string, p: Problems): GatewayAddress | undefined {
  const port = p.port(g.hboneMtlsPort, `${field}.hbone_mtls_port`, false);
  if (g.hostname) {
    return {
      kind: "hostname",
      namespace: p.required(g.hostname.namespace, `${field}.hostname.namespace`),
      hostname: p.required(g.hostname.hostname, `${field}.hostname.hostname`),
      hboneMtlsPort: port,
    };
  }
  if (g.address) {
    return {
      kind: "address",
      network: g.address.network ?? "",
      address: p.ip(g.address.address, `${field}.address.address`),
      hboneMtlsPort: port,
    };
  }
  p.add(field, "destination (hostname or address) required");
  return undefined;
}

function decodePort(w: WirePort, field: string, p: Problems): PortMapping & { appProtocol: AppProtocol } {
  return {
    servicePort: p.port(w.servicePort, `${field}.service_port`, false),
    targetPort: p.port(w.targetPort, `${field}.target_port`, true),
    appProtocol: p.enumValue(APP_PROTOCOL, w.appProtocol, `${field}.app_protocol`),
  };
}

function decodeWorkload(w: WireWorkload, p: Problems): Workload {
  const name = p.required(w.name, "workload.name");
  const namespace = p.required(w.namespace, "workload.namespace");
  const uid = p.required(w.uid, "workload.uid");
  const tunnel = p.enumValue(TUNNEL, w.tunnelProtocol, "workload.tunnel_protocol");
  if (tunnel === "LEGACY_ISTIO_MTLS") p.add("workload.tunnel_protocol", "LEGACY_ISTIO_MTLS is not supported by weft");
  const services = new Map<string, PortMapping[]>();
  for (const [key, list] of Object.entries(w.services ?? {})) {
    if (!/^[^/]+\/[^/]+$/.test(key)) p.add(`workload.services[${key}]`, "key must be namespace/hostname");
    services.set(
      key,
      (list.ports ?? []).map((port, i) => decodePort(port, `workload.services[${key}].ports[${i}]`, p)),
    );
  }
  const waypoint = w.waypoint ? decodeGateway(w.waypoint, "workload.waypoint", p) : undefined;
  return {
    uid,
    name,
    namespace,
    addresses: (w.addresses ?? []).map((a, i) => p.ip(a, `workload.addresses[${i}]`)),
    ...(w.hostname ? { hostname: w.hostname } : {}),
    network: w.network ?? "",
    tunnelProtocol: tunnel === "HBONE" ? "HBONE" : "NONE",
    trustDomain: w.trustDomain || DEFAULT_TRUST_DOMAIN,
    serviceAccount: w.serviceAccount || "default",
    ...(waypoint ? { waypoint } : {}),
    node: w.node ?? "",
    canonicalName: w.canonicalName ?? "",
    canonicalRevision: w.canonicalRevision ?? "",
    workloadType: p.enumValue(WORKLOAD_TYPE, w.workloadType, "workload.workload_type"),
    workloadName: w.workloadName ?? "",
    services,
    authorizationPolicies: [...(w.authorizationPolicies ?? [])],
    status: p.enumValue(STATUS, w.status, "workload.status"),
    clusterId: w.clusterId ?? "",
    ...(w.locality
      ? { locality: { region: w.locality.region ?? "", zone: w.locality.zone ?? "", subzone: w.locality.subzone ?? "" } }
      : {}),
    networkMode: p.enumValue(NETWORK_MODE, w.networkMode, "workload.network_mode"),
    ...(w.capacity && typeof w.capacity.value === "number" ? { capacity: w.capacity.value } : {}),
  };
}

function decodeService(s: WireService, p: Problems): Service {
  const waypoint = s.waypoint ? decodeGateway(s.waypoint, "service.waypoint", p) : undefined;
  const lb = s.loadBalancing;
  return {
    name: p.required(s.name, "service.name"),
    namespace: p.required(s.namespace, "service.namespace"),
    hostname: p.required(s.hostname, "service.hostname"),
    addresses: (s.addresses ?? []).map((a, i) => ({
      network: a.network ?? "",
      address: p.ip(a.address, `service.addresses[${i}].address`),
    })),
    ports: (s.ports ?? []).map((port, i) => decodePort(port, `service.ports[${i}]`, p)),
    subjectAltNames: [...(s.subjectAltNames ?? [])],
    ...(waypoint ? { waypoint } : {}),
    ...(lb
      ? {
          loadBalancing: {
            routingPreference: (lb.routingPreference ?? []).map(
              (x, i) => p.enumValue(LB_SCOPE, x, `service.load_balancing.routing_preference[${i}]`) as LoadBalancingScope,
            ),
            mode: p.enumValue(LB_MODE, lb.mode, "service.load_balancing.mode") as LoadBalancingMode,
            healthPolicy: p.enumValue(HEALTH_POLICY, lb.healthPolicy, "service.load_balancing.health_policy"),
          },
        }
      : {}),
    ...(s.visibility ? { visibility: p.enumValue(VISIBILITY, s.visibility, "service.visibility") } : {}),
  };
}

/**
 * Decodes and validates one `istio.workload.Address`. `name` is the xDS resource name it came
 * under (used in errors, and checked against the decoded uid / `namespace/hostname`).
 */
export function decodeAddress(bytes: Uint8Array, name = "(unnamed)"): Result<AddressResource, ResourceError[]> {
  let msg: { workload?: WireWorkload | null; service?: WireService | null };
  try {
    msg = protoTypes().Address.decode(bytes) as typeof msg;
  } catch (e) {
    return err([{ resource: name, field: "(wire)", reason: `not an istio.workload.Address: ${(e as Error).message}` }]);
  }
  const p = new Problems(name);
  let out: AddressResource;
  if (msg.workload) {
    if (msg.workload.uid) p.resource = msg.workload.uid;
    out = { kind: "workload", value: decodeWorkload(msg.workload, p) };
  } else if (msg.service) {
    if (msg.service.namespace && msg.service.hostname) p.resource = `${msg.service.namespace}/${msg.service.hostname}`;
    out = { kind: "service", value: decodeService(msg.service, p) };
  } else {
    return err([{ resource: name, field: "type", reason: "neither workload nor service is set" }]);
  }
  const decodedName = addressName(out);
  if (name !== "(unnamed)" && p.list.length === 0 && decodedName !== name) {
    p.add("name", `resource named ${JSON.stringify(name)} holds ${JSON.stringify(decodedName)}`);
  }
  return p.list.length ? err(p.list) : ok(out);
}
