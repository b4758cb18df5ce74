/**
 * Builders for Kubernetes objects in config tests: a complete, valid object from a few fields,
 * so tables stay readable. Defaults: namespace `shop`, a Running and Ready pod on node-a.
 */
import type { KubeObject } from "../../src/kube/object.js";

export function namespace(name: string, labels: Record<string, string> = {}): KubeObject {
  return { apiVersion: "v1", kind: "Namespace", metadata: { name, labels } };
}

export interface PodFields {
  name: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ip?: string | undefined;
  ips?: string[];
  phase?: string;
  ready?: boolean;
  node?: string;
  serviceAccount?: string;
  hostNetwork?: boolean;
  ports?: Array<{ name?: string; containerPort: number; protocol?: string }>;
  owner?: { kind: string; name: string };
}

export function pod(f: PodFields): KubeObject {
  const ip = "ip" in f ? f.ip : "10.0.0.5";
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name: f.name,
      namespace: f.namespace ?? "shop",
      labels: f.labels ?? {},
      ...(f.annotations ? { annotations: f.annotations } : {}),
      ...(f.owner ? { ownerReferences: [{ apiVersion: "apps/v1", kind: f.owner.kind, name: f.owner.name, controller: true }] } : {}),
    },
    spec: {
      containers: [{ name: "app", image: "app", ports: f.ports ?? [{ name: "http", containerPort: 8080 }] }],
      nodeName: f.node ?? "node-a",
      ...(f.serviceAccount ? { serviceAccountName: f.serviceAccount } : {}),
      ...(f.hostNetwork ? { hostNetwork: true } : {}),
    },
    status: {
      phase: f.phase ?? "Running",
      ...(ip ? { podIP: ip, podIPs: (f.ips ?? [ip]).map((i) => ({ ip: i })) } : {}),
      conditions: [{ type: "Ready", status: f.ready === false ? "False" : "True" }],
    },
  };
}

export interface ServiceFields {
  name: string;
  namespace?: string;
  labels?: Record<string, string>;
  selector?: Record<string, string>;
  clusterIP?: string;
  clusterIPs?: string[];
  ports?: Array<{ name?: string; port: number; targetPort?: number | string; appProtocol?: string; protocol?: string }>;
  type?: string;
}

export function service(f: ServiceFields): KubeObject {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name: f.name, namespace: f.namespace ?? "shop", labels: f.labels ?? {} },
    spec: {
      ...(f.selector ? { selector: f.selector } : {}),
      clusterIP: f.clusterIP ?? "10.96.0.10",
      ...(f.clusterIPs ? { clusterIPs: f.clusterIPs } : {}),
      ports: f.ports ?? [{ name: "http", port: 80, targetPort: 8080 }],
      ...(f.type ? { type: f.type } : {}),
    },
  };
}

export function waypointGateway(
  name: string,
  namespace = "shop",
  waypointFor?: string,
  className = "istio-waypoint",
  allowedFrom?: "All" | "Same" | "Selector",
): KubeObject {
  return {
    apiVersion: "gateway.networking.k8s.io/v1",
    kind: "Gateway",
    metadata: { name, namespace, labels: waypointFor ? { "istio.io/waypoint-for": waypointFor } : {} },
    spec: {
      gatewayClassName: className,
      listeners: [
        { name: "mesh", port: 15008, protocol: "HBONE", ...(allowedFrom ? { allowedRoutes: { namespaces: { from: allowedFrom } } } : {}) },
      ],
    },
  };
}

export function node(name: string, labels: Record<string, string> = {}): KubeObject {
  return { apiVersion: "v1", kind: "Node", metadata: { name, labels } };
}
