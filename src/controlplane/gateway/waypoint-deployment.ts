/**
 * What Istio's deployment controller makes of a Gateway of class istio-waypoint, decided in pure
 * code: whether weft manages it, and the ServiceAccount, Deployment and Service to apply, each
 * owned by the Gateway (ownerReferences, so the garbage collector deletes them with it).
 *
 * Follows istiod's `waypoint` template and `configureIstioGateway`:
 * - managed unless `spec.addresses` names something other than one IP address, or the
 *   `gateway.istio.io/controller-version` annotation is unparsable or newer than Istio's 5;
 * - names: the Deployment and Service are the Gateway's name (waypoints get no class suffix), the
 *   service account `gateway.istio.io/service-account` or the Gateway's name;
 * - infrastructure metadata: `spec.infrastructure.labels/annotations`, else the Gateway's own
 *   (Istio's EnableGatewayAPICopyLabelsAnnotations default), minus `gateway.networking.k8s.io/`
 *   keys and the annotations Istio never copies; `topology.istio.io/network` from the mesh network;
 * - Service: `status-port` 15021 (appProtocol tcp) plus one port per distinct listener port
 *   (named after the listener, appProtocol its lowercased protocol), selector
 *   `gateway.networking.k8s.io/gateway-name`, type from `networking.istio.io/service-type`
 *   (default ClusterIP), PreferDualStack, `networking.istio.io/traffic-distribution: PreferClose`.
 * - the pod runs `weft waypoint` (src/waypoint/config.ts flags) with the projected `istio-ca`
 *   token and the `istio-ca-root-cert` ConfigMap, Istio's probes on 15021, ports 15008 (HBONE),
 *   15020 (metrics), 15021 (readiness), uid/gid 1337, read-only root, no capabilities.
 *
 * Every object carries `gateway.istio.io/managed` (istiod puts it on the Deployment only): the
 * controller never takes over an existing object without it, so it must be on all three.
 *
 * Not honoured (reported, see docs/waypoint.md "Kubernetes"): `gateway.istio.io/name-override`
 * (weft addresses a waypoint by `<gateway>.<ns>.svc`), `spec.infrastructure.parametersRef`.
 */
import type { KubeObject } from "../../kube/object.js";
import { isPlainObject } from "../../kube/validate/validate-schema.js";
import {
  CONTROLLER_VERSION,
  CONTROLLER_VERSION_ANNOTATION,
  GATEWAY_CLASS_LABEL,
  GATEWAY_NAME_LABEL,
  MANAGED_LABEL,
  MANAGED_VALUE,
  NAME_OVERRIDE_ANNOTATION,
  NETWORK_LABEL,
  NOT_COPIED_ANNOTATIONS,
  SERVICE_ACCOUNT_ANNOTATION,
  SERVICE_TYPE_ANNOTATION,
} from "./labels.js";

/** Where the waypoint pods find the control plane, and what they run. */
export interface WaypointDeploymentSettings {
  readonly image: string;
  readonly imagePullPolicy?: string;
  /** `host:port` of the control plane's xDS + CA (istiod's CA_ADDR). */
  readonly xdsAddress: string;
  readonly controlPlaneSan: string;
  readonly trustDomain: string;
  readonly clusterId: string;
  /** Mesh network (`topology.istio.io/network`); "" for none. */
  readonly network: string;
}

export type ManagedObject = KubeObject & { readonly metadata: KubeObject["metadata"] & { readonly namespace: string } };

export type WaypointDecision =
  | { readonly kind: "unmanaged"; readonly reason: string }
  | {
      readonly kind: "managed";
      /** ServiceAccount, Deployment, Service (in apply order). */
      readonly objects: readonly ManagedObject[];
      readonly serviceAccount: string;
      /** Gateway fields weft does not honour, with the reason (for status and warnings). */
      readonly ignored: readonly { readonly field: string; readonly reason: string }[];
    };

export const TOKEN_DIR = "/var/run/secrets/tokens";
export const ROOT_CERT_DIR = "/var/run/secrets/istio";
export const ROOT_CERT_CONFIGMAP = "istio-ca-root-cert";
export const ROOT_CERT_KEY = "root-cert.pem";

type Obj = Record<string, unknown>;

function infraMetadata(gw: KubeObject, which: "labels" | "annotations"): Record<string, string> {
  const spec = isPlainObject(gw.spec) ? gw.spec : {};
  const infra = isPlainObject(spec.infrastructure) ? spec.infrastructure : undefined;
  const source = infra && isPlainObject(infra[which]) ? (infra[which] as Record<string, unknown>) : (gw.metadata[which] ?? {});
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(source)) {
    if (k.startsWith("gateway.networking.k8s.io/") || typeof v !== "string") continue;
    if (which === "annotations" && NOT_COPIED_ANNOTATIONS.includes(k)) continue;
    out[k] = v;
  }
  return out;
}

function managedReason(gw: KubeObject): string | undefined {
  const spec = isPlainObject(gw.spec) ? gw.spec : {};
  const addrs = Array.isArray(spec.addresses) ? spec.addresses : [];
  if (addrs.length > 1) return "spec.addresses names more than one address: the Gateway points at an existing deployment";
  if (addrs.length === 1 && isPlainObject(addrs[0]) && addrs[0].type !== undefined && addrs[0].type !== "IPAddress")
    return `spec.addresses[0].type ${String(addrs[0].type)}: the Gateway points at an existing deployment`;
  const v = gw.metadata.annotations?.[CONTROLLER_VERSION_ANNOTATION];
  if (v !== undefined && !(/^\d+$/.test(v) && Number(v) <= CONTROLLER_VERSION))
    return `${CONTROLLER_VERSION_ANNOTATION} ${JSON.stringify(v)}: managed by another controller version`;
  return undefined;
}

/** Service ports: status-port, then one per distinct listener port (Istio's extractServicePorts). */
export function servicePorts(gw: KubeObject): Obj[] {
  const spec = isPlainObject(gw.spec) ? gw.spec : {};
  const ports: Obj[] = [{ name: "status-port", port: 15021, protocol: "TCP", appProtocol: "tcp" }];
  const seen = new Set<number>();
  for (const [i, l] of (Array.isArray(spec.listeners) ? spec.listeners : []).entries()) {
    if (!isPlainObject(l) || typeof l.port !== "number" || seen.has(l.port)) continue;
    seen.add(l.port);
    const protocol = String(l.protocol ?? "").toLowerCase();
    ports.push({
      name: typeof l.name === "string" && l.name ? l.name : `${protocol}-${i}`,
      port: l.port,
      protocol: "TCP",
      appProtocol: protocol,
    });
  }
  return ports;
}

const fieldEnv = (name: string, fieldPath: string): Obj => ({ name, valueFrom: { fieldRef: { fieldPath } } });

/** The decision and objects for one Gateway of the waypoint class (the caller checked the class). */
export function renderWaypoint(gw: KubeObject, s: WaypointDeploymentSettings): WaypointDecision {
  const unmanaged = managedReason(gw);
  if (unmanaged) return { kind: "unmanaged", reason: unmanaged };
  const name = gw.metadata.name;
  const namespace = gw.metadata.namespace ?? "";
  const spec = isPlainObject(gw.spec) ? gw.spec : {};
  const className = String(spec.gatewayClassName ?? "");
  const serviceAccount = gw.metadata.annotations?.[SERVICE_ACCOUNT_ANNOTATION] || name;
  const ignored: { field: string; reason: string }[] = [];
  if (gw.metadata.annotations?.[NAME_OVERRIDE_ANNOTATION] !== undefined)
    ignored.push({
      field: `metadata.annotations[${NAME_OVERRIDE_ANNOTATION}]`,
      reason: "not supported: weft names the waypoint's Deployment and Service after the Gateway",
    });
  if (isPlainObject(spec.infrastructure) && spec.infrastructure.parametersRef !== undefined)
    ignored.push({ field: "spec.infrastructure.parametersRef", reason: "not supported by weft yet: the default waypoint is deployed" });

  const labels = infraMetadata(gw, "labels");
  const annotations = infraMetadata(gw, "annotations");
  if (s.network && !gw.metadata.labels?.[NETWORK_LABEL]) labels[NETWORK_LABEL] = s.network;
  const ownerReferences = [{ apiVersion: gw.apiVersion, kind: "Gateway", name, uid: gw.metadata.uid ?? "" }];
  const gatewayLabels = { [GATEWAY_NAME_LABEL]: name, [GATEWAY_CLASS_LABEL]: className };
  const managed = { ...labels, ...gatewayLabels, [MANAGED_LABEL]: MANAGED_VALUE };
  const meta = (objName: string, objLabels: Record<string, string>, extra: Record<string, string> = {}) => ({
    name: objName,
    namespace,
    labels: objLabels,
    ...(Object.keys({ ...extra, ...annotations }).length ? { annotations: { ...extra, ...annotations } } : {}),
    ownerReferences,
  });

  const sa: ManagedObject = { apiVersion: "v1", kind: "ServiceAccount", metadata: meta(serviceAccount, managed) };
  const container: Obj = {
    name: "istio-proxy",
    image: s.image,
    ...(s.imagePullPolicy ? { imagePullPolicy: s.imagePullPolicy } : {}),
    args: [
      "waypoint",
      `--name=${name}`,
      `--xds-address=${s.xdsAddress}`,
      `--token-file=${TOKEN_DIR}/istio-token`,
      `--root-cert=${ROOT_CERT_DIR}/${ROOT_CERT_KEY}`,
      `--control-plane-san=${s.controlPlaneSan}`,
      `--trust-domain=${s.trustDomain}`,
      `--cluster-id=${s.clusterId}`,
    ],
    env: [
      fieldEnv("POD_NAME", "metadata.name"),
      fieldEnv("POD_NAMESPACE", "metadata.namespace"),
      fieldEnv("INSTANCE_IP", "status.podIP"),
      fieldEnv("SERVICE_ACCOUNT", "spec.serviceAccountName"),
      fieldEnv("NODE_NAME", "spec.nodeName"),
      ...(labels[NETWORK_LABEL] ? [{ name: "NETWORK", value: labels[NETWORK_LABEL] }] : []),
    ],
    ports: [
      { name: "hbone", containerPort: 15008, protocol: "TCP" },
      { name: "metrics", containerPort: 15020, protocol: "TCP" },
      { name: "status-port", containerPort: 15021, protocol: "TCP" },
    ],
    startupProbe: probe(30, 1, 1),
    readinessProbe: probe(4, 15, 0),
    resources: { requests: { cpu: "100m", memory: "128Mi" }, limits: { cpu: "2", memory: "1Gi" } },
    securityContext: {
      privileged: false,
      runAsUser: 1337,
      runAsGroup: 1337,
      runAsNonRoot: true,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ["ALL"] },
    },
    volumeMounts: [
      { name: "istio-token", mountPath: TOKEN_DIR },
      { name: "istiod-ca-cert", mountPath: ROOT_CERT_DIR },
      { name: "tmp", mountPath: "/tmp" },
    ],
  };
  const deployment: ManagedObject = {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: meta(name, managed),
    spec: {
      selector: { matchLabels: { [GATEWAY_NAME_LABEL]: name } },
      template: {
        metadata: {
          labels: {
            "sidecar.istio.io/inject": "false",
            "istio.io/dataplane-mode": "none",
            "service.istio.io/canonical-name": name,
            "service.istio.io/canonical-revision": "latest",
            ...managed,
          },
          annotations: {
            ...annotations,
            "istio.io/rev": gw.metadata.labels?.["istio.io/rev"] ?? "default",
            "prometheus.io/path": "/stats/prometheus",
            "prometheus.io/port": "15020",
            "prometheus.io/scrape": "true",
          },
        },
        spec: {
          serviceAccountName: serviceAccount,
          containers: [container],
          volumes: [
            {
              name: "istio-token",
              projected: { sources: [{ serviceAccountToken: { audience: "istio-ca", expirationSeconds: 43200, path: "istio-token" } }] },
            },
            { name: "istiod-ca-cert", configMap: { name: ROOT_CERT_CONFIGMAP } },
            { name: "tmp", emptyDir: {} },
          ],
        },
      },
    },
  };
  const service: ManagedObject = {
    apiVersion: "v1",
    kind: "Service",
    metadata: meta(name, managed, { "networking.istio.io/traffic-distribution": "PreferClose" }),
    spec: {
      ipFamilyPolicy: "PreferDualStack",
      ports: servicePorts(gw),
      selector: { [GATEWAY_NAME_LABEL]: name },
      type: gw.metadata.annotations?.[SERVICE_TYPE_ANNOTATION] ?? "ClusterIP",
    },
  };
  return { kind: "managed", objects: [sa, deployment, service], serviceAccount, ignored };
}

function probe(failureThreshold: number, periodSeconds: number, initialDelaySeconds: number): Obj {
  return {
    httpGet: { path: "/healthz/ready", port: 15021, scheme: "HTTP" },
    failureThreshold,
    periodSeconds,
    initialDelaySeconds,
    successThreshold: 1,
    timeoutSeconds: 1,
  };
}
