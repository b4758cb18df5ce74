/**
 * Decodes Envoy's Cluster (EDS or STATIC with an inline load_assignment, ORIGINAL_DST, or
 * STRICT_DNS / LOGICAL_DNS in decode-dns-cluster.ts; its load
 * balancing, circuit breaking, outlier detection and upstream HTTP protocol options in
 * decode-cluster-policy.ts) and ClusterLoadAssignment
 * (endpoints with health, weight, locality, priority and Istio's workload metadata) into the
 * waypoint's Cluster and ClusterEndpoints. Pure.
 */
import { type Result, ok, err } from "../../common/result.js";
import { canonicalIp } from "../../common/net/addr.js";
import type { ResourceError } from "../../common/xds/resource-error.js";
import { Decoding, type Obj, arr, durationMs, join, num, obj, str, wrapped } from "./fields.js";
import type { Cluster, ClusterEndpoints, Endpoint, IstioServiceRef } from "./types.js";
import {
  POLICY_FIELDS,
  decodeCircuitBreakers,
  decodeHttpOptions,
  decodeLbPolicy,
  decodeLbSettings,
  decodeOutlierDetection,
} from "./decode-cluster-policy.js";
import { DNS_FIELDS, decodeDnsDiscovery, isDnsName } from "./decode-dns-cluster.js";

/** Envoy's default connect_timeout (5 s). */
export const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;

export function decodeCluster(o: Obj, resource: string): Result<Cluster, ResourceError[]> {
  const d = new Decoding(resource);
  d.only(
    o,
    "",
    ["name", "type", "edsClusterConfig", "connectTimeout", "metadata", "loadAssignment", ...POLICY_FIELDS, ...DNS_FIELDS],
    ["altStatName", "cleanupInterval"],
  );
  if (str(o.name) !== resource) d.fail("name", `${JSON.stringify(o.name)} differs from the resource name`);
  const type = str(o.type) ?? "STATIC";
  let lbPolicy: Cluster["lbPolicy"];
  let lb: Cluster["lb"];
  if (type === "ORIGINAL_DST") {
    // The endpoint is the connection's original destination: no load balancer to configure.
    if (str(o.lbPolicy) !== "CLUSTER_PROVIDED")
      d.fail("lb_policy", `an ORIGINAL_DST cluster needs CLUSTER_PROVIDED, got ${String(o.lbPolicy)}`);
    lbPolicy = "CLUSTER_PROVIDED";
    lb = decodeLbSettings(d, o, "ROUND_ROBIN");
  } else {
    lbPolicy = decodeLbPolicy(d, o);
    lb = decodeLbSettings(d, o, lbPolicy);
  }
  const circuitBreakers = decodeCircuitBreakers(d, o.circuitBreakers);
  const outlierDetection = decodeOutlierDetection(d, o.outlierDetection);
  const { options: httpOptions, protocol: upstreamProtocol } = decodeHttpOptions(d, o.typedExtensionProtocolOptions);
  let endpointsFrom: Cluster["endpointsFrom"] | undefined;
  if (type === "ORIGINAL_DST") {
    if (o.loadAssignment !== undefined) d.fail("load_assignment", "an ORIGINAL_DST cluster has no endpoints of its own");
    endpointsFrom = { kind: "original_dst" };
  } else if (type === "EDS") {
    const eds = obj(o.edsClusterConfig) ?? {};
    d.only(eds, "eds_cluster_config", ["edsConfig", "serviceName"]);
    const cs = obj(eds.edsConfig);
    if (cs && cs.ads === undefined) d.fail("eds_cluster_config.eds_config", "only ads {} is supported");
    if (o.loadAssignment !== undefined) d.fail("load_assignment", "an EDS cluster gets its endpoints from EDS");
    endpointsFrom = { kind: "eds", serviceName: str(eds.serviceName) || resource };
  } else if (type === "STATIC") {
    const la = obj(o.loadAssignment);
    if (!la) d.fail("load_assignment", "a STATIC cluster needs its endpoints inline");
    else endpointsFrom = { kind: "static", endpoints: assignment(d, la, "load_assignment", resource) };
  } else if (type === "STRICT_DNS" || type === "LOGICAL_DNS") {
    endpointsFrom = decodeDnsDiscovery(d, o, type, (la) => assignment(d, la, "load_assignment", resource, true));
  } else d.fail("type", `${type} is not supported (EDS, STATIC, ORIGINAL_DST, STRICT_DNS, LOGICAL_DNS)`);
  if (type !== "STRICT_DNS" && type !== "LOGICAL_DNS")
    for (const f of DNS_FIELDS) if (o[f] !== undefined) d.fail(f, `only for DNS clusters, not ${type}`);
  const service = istioService(d, o.metadata);
  if (d.errors.length || !endpointsFrom) return err(d.errors);
  return ok({
    name: resource,
    endpointsFrom,
    connectTimeoutMs: durationMs(o.connectTimeout) ?? DEFAULT_CONNECT_TIMEOUT_MS,
    lbPolicy,
    lb,
    circuitBreakers,
    ...(outlierDetection ? { outlierDetection } : {}),
    httpOptions,
    upstreamProtocol,
    ...(service ? { service } : {}),
  });
}

export function decodeClusterLoadAssignment(o: Obj, resource: string): Result<ClusterEndpoints, ResourceError[]> {
  const d = new Decoding(resource);
  const cla = assignment(d, o, "", resource);
  if (str(o.clusterName) !== resource) d.fail("cluster_name", `${JSON.stringify(o.clusterName)} differs from the resource name`);
  return d.errors.length ? err(d.errors) : ok(cla);
}

/** An inline or EDS assignment; `hostnames`: addresses may be DNS names (a DNS cluster's `ip` is then the name). */
function assignment(d: Decoding, o: Obj, path: string, resource: string, hostnames = false): ClusterEndpoints {
  d.only(o, path, ["clusterName", "endpoints", "policy"]);
  const policy = obj(o.policy) ?? {};
  d.only(policy, join(path, "policy"), ["overprovisioningFactor"], ["endpointStaleAfter"]);
  if (policy.dropOverloads !== undefined) d.fail(join(path, "policy.drop_overloads"), "not supported by the weft waypoint");
  const endpoints: Endpoint[] = [];
  arr(o.endpoints).forEach((loc, i) => {
    const lp = `${join(path, "endpoints")}[${i}]`;
    d.only(loc, lp, ["lbEndpoints", "locality", "loadBalancingWeight", "priority"], ["metadata"]);
    const priority = num(loc.priority) ?? 0;
    if (priority > 127) d.fail(join(lp, "priority"), `${priority} is above 127 (Envoy's limit)`);
    const l = obj(loc.locality) ?? {};
    const locality = [str(l.region) ?? "", str(l.zone) ?? "", str(l.subZone) ?? ""].join("/");
    const localityWeight = wrapped<number>(loc.loadBalancingWeight, 0) ?? 0;
    arr(loc.lbEndpoints).forEach((e, j) => {
      const ep = `${join(lp, "lb_endpoints")}[${j}]`;
      d.only(e, ep, ["endpoint", "healthStatus", "loadBalancingWeight", "metadata"]);
      const inner = obj(e.endpoint) ?? {};
      d.only(inner, join(ep, "endpoint"), ["address"], ["hostname", "healthCheckConfig"]);
      const sa = obj(obj(inner.address)?.socketAddress) ?? {};
      const ip = canonicalIp(str(sa.address) ?? "") ?? (hostnames && isDnsName(str(sa.address) ?? "") ? str(sa.address) : undefined);
      const port = num(sa.portValue) ?? 0;
      if (!ip)
        return d.fail(
          join(ep, "endpoint.address.socket_address.address"),
          `${JSON.stringify(sa.address)} is not an IP address${hostnames ? " or a DNS name" : ""}`,
        );
      if (port < 1 || port > 65535) return d.fail(join(ep, "endpoint.address.socket_address.port_value"), `${port} is not a port`);
      const health = str(e.healthStatus) ?? "UNKNOWN";
      const workload = istioWorkload(e.metadata);
      endpoints.push({
        ip,
        port,
        weight: wrapped<number>(e.loadBalancingWeight, 1) ?? 1,
        // Envoy routes to UNKNOWN, HEALTHY and DEGRADED hosts.
        healthy: health === "UNKNOWN" || health === "HEALTHY" || health === "DEGRADED",
        priority,
        locality,
        localityWeight,
        ...(workload ? { workload } : {}),
      });
    });
  });
  const factor = wrapped<number>(policy.overprovisioningFactor, 0);
  return { clusterName: resource, endpoints, ...(factor !== undefined ? { overprovisioningFactor: factor } : {}) };
}

/** `metadata.filter_metadata.istio` as protobufjs decodes a Struct: { fields: { k: { stringValue | listValue | structValue } } }. */
function istioStruct(v: unknown): Obj | undefined {
  const fm = obj(obj(v)?.filterMetadata);
  return obj(obj(fm?.istio)?.fields);
}

function istioService(d: Decoding, v: unknown): IstioServiceRef | undefined {
  const f = istioStruct(v);
  const list = arr(obj(obj(f?.services)?.listValue)?.values);
  const s = obj(obj(list[0]?.structValue)?.fields);
  if (!s) return undefined;
  const get = (k: string) => str(obj(s[k])?.stringValue) ?? "";
  const ref = { host: get("host"), name: get("name"), namespace: get("namespace") };
  if (!ref.host) d.fail("metadata.filter_metadata.istio.services[0].host", "required");
  return ref;
}

function istioWorkload(v: unknown): Endpoint["workload"] | undefined {
  const text = str(obj(istioStruct(v)?.workload)?.stringValue);
  if (!text) return undefined;
  const [name = "", namespace = "", canonicalName = "", revision = "", cluster = ""] = text.split(";");
  return { name, namespace, canonicalName, revision, cluster };
}
