/**
 * Builders for domain objects in tests: a complete Workload or Service from a few fields,
 * so tables stay readable. Defaults describe an enrolled, healthy pod on node-a.
 */
import type { PortMapping, Workload } from "../../src/common/model/workload.js";
import type { Service, ServicePort } from "../../src/common/model/service.js";

export function workload(
  fields: Partial<Omit<Workload, "services">> & { name: string; services?: Record<string, PortMapping[]> },
): Workload {
  const namespace = fields.namespace ?? "default";
  return {
    uid: fields.uid ?? `cluster1//Pod/${namespace}/${fields.name}`,
    name: fields.name,
    namespace,
    addresses: fields.addresses ?? [],
    network: fields.network ?? "",
    tunnelProtocol: fields.tunnelProtocol ?? "HBONE",
    trustDomain: fields.trustDomain ?? "cluster.local",
    serviceAccount: fields.serviceAccount ?? fields.name,
    node: fields.node ?? "node-a",
    canonicalName: fields.canonicalName ?? fields.name,
    canonicalRevision: fields.canonicalRevision ?? "latest",
    workloadType: fields.workloadType ?? "POD",
    workloadName: fields.workloadName ?? fields.name,
    services: new Map(Object.entries(fields.services ?? {})),
    authorizationPolicies: fields.authorizationPolicies ?? [],
    status: fields.status ?? "HEALTHY",
    clusterId: fields.clusterId ?? "cluster1",
    networkMode: fields.networkMode ?? "STANDARD",
    ...(fields.waypoint ? { waypoint: fields.waypoint } : {}),
    ...(fields.locality ? { locality: fields.locality } : {}),
    ...(fields.hostname ? { hostname: fields.hostname } : {}),
    ...(fields.capacity !== undefined ? { capacity: fields.capacity } : {}),
  };
}

export function service(
  fields: Partial<Omit<Service, "addresses" | "ports">> & {
    name: string;
    vips?: string[];
    ports?: Array<Partial<ServicePort> & { servicePort: number }>;
  },
): Service {
  const namespace = fields.namespace ?? "default";
  return {
    name: fields.name,
    namespace,
    hostname: fields.hostname ?? `${fields.name}.${namespace}.svc.cluster.local`,
    addresses: (fields.vips ?? []).map((address) => ({ network: "", address })),
    ports: (fields.ports ?? []).map((p) => ({
      servicePort: p.servicePort,
      targetPort: p.targetPort ?? 0,
      appProtocol: p.appProtocol ?? "UNKNOWN",
    })),
    subjectAltNames: fields.subjectAltNames ?? [],
    ...(fields.waypoint ? { waypoint: fields.waypoint } : {}),
    ...(fields.loadBalancing ? { loadBalancing: fields.loadBalancing } : {}),
    ...(fields.visibility ? { visibility: fields.visibility } : {}),
  };
}
