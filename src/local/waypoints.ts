/**
 * Waypoint pods for the local cluster, pure: for each Gateway of class `istio-waypoint` in the
 * manifests, what Istio's deployment controller would create in Kubernetes — a pod
 * `<gateway>-<5 chars>` and a Service `<gateway>` selecting it — plus the bootstrap token that
 * gives the pod its identity `spiffe://<td>/ns/<ns>/sa/<gateway>` (WAYPOINT-CONTRACT.md, "Local
 * cluster"). The pod's container runs `weft waypoint ...` with the contract's flags; `weft`
 * and `$(VAR)` references are resolved when the pod starts (cluster.ts), as for any pod.
 *
 * Labels as Istio's controller sets them: `gateway.networking.k8s.io/gateway-name`,
 * `gateway.istio.io/managed: istio.io-mesh-controller`, `istio.io/dataplane-mode: none` (a
 * waypoint is never captured), plus `spec.infrastructure.labels`/`annotations` (Gateway API).
 * Scheduling: the Gateway annotation `local.weft.io/node-name` (local cluster only), else a
 * node picked by a hash of the Gateway's name, so a re-run places it on the same node.
 * Differences from Istio: the service account is always the Gateway's name (Istio's
 * `parametersRef` overlays are not read); the Service has no cluster IP (the local cluster
 * assigns none; ztunnel addresses waypoints by hostname and pod IP).
 */
import { createHash } from "node:crypto";
import { type Result, ok, err } from "../common/result.js";
import type { LocalPod, LocalService } from "./manifests.js";

export const WAYPOINT_CLASS = "istio-waypoint";
export const NODE_ANNOTATION = "local.weft.io/node-name";
export const GATEWAY_NAME_LABEL = "gateway.networking.k8s.io/gateway-name";
export const HBONE_PORT = 15008;
export const STATUS_PORT = 15021;
export const METRICS_PORT = 15020;

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

export interface WaypointGateway {
  readonly namespace: string;
  readonly name: string;
  readonly serviceAccount: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
  /** From the node annotation, when given. */
  readonly nodeName?: string;
}

/** Everything one waypoint adds to the cluster. */
export interface WaypointPlan {
  readonly gateway: WaypointGateway;
  readonly pod: LocalPod;
  readonly service: LocalService;
  /** The Service object for the control plane's folder. */
  readonly serviceObject: Obj;
  readonly identity: string;
  /** File (relative to STATE) holding the pod's bootstrap token. */
  readonly tokenFile: string;
}

export interface WaypointContext {
  readonly nodes: readonly string[];
  /** Control plane xDS/CA address, host:port. */
  readonly xdsAddress: string;
  /** Absolute path of the mesh root certificate. */
  readonly rootCert: string;
  /** STATE directory: working directory of the pod, base of the token file. */
  readonly stateDir: string;
  readonly trustDomain: string;
}

const LABEL_VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/;

function strings(v: unknown, field: string, where: string): Result<Record<string, string>> {
  if (v === undefined) return ok({});
  if (!isObj(v)) return err(new Error(`${where}: ${field}: must be a mapping`));
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(v)) {
    if (typeof x !== "string") return err(new Error(`${where}: ${field}.${k}: must be a string`));
    out[k] = x;
  }
  return ok(out);
}

/** The waypoint Gateways among config objects (other Gateways are left to the control plane). */
export function waypointGateways(objects: readonly Obj[]): Result<WaypointGateway[]> {
  const out: WaypointGateway[] = [];
  for (const o of objects) {
    if (o.kind !== "Gateway" || typeof o.apiVersion !== "string" || !o.apiVersion.startsWith("gateway.networking.k8s.io/")) continue;
    const spec = isObj(o.spec) ? o.spec : {};
    if (spec.gatewayClassName !== WAYPOINT_CLASS) continue;
    const meta = o.metadata as Obj;
    const name = meta.name as string;
    const namespace = typeof meta.namespace === "string" ? meta.namespace : "default";
    const where = `Gateway ${namespace}/${name}`;
    if (!/^[a-z0-9]([a-z0-9-]{0,40}[a-z0-9])?$/.test(name))
      return err(
        new Error(`${where}: metadata.name: must be a DNS label of at most 42 characters (it names the waypoint's pod and Service)`),
      );
    const infra = isObj(spec.infrastructure) ? spec.infrastructure : {};
    const labels = strings(infra.labels, "spec.infrastructure.labels", where);
    if (!labels.ok) return labels;
    for (const [k, v] of Object.entries(labels.value))
      if (!LABEL_VALUE.test(v))
        return err(new Error(`${where}: spec.infrastructure.labels.${k}: ${JSON.stringify(v)} is not a label value`));
    const annotations = strings(infra.annotations, "spec.infrastructure.annotations", where);
    if (!annotations.ok) return annotations;
    const own = strings(meta.annotations, "metadata.annotations", where);
    if (!own.ok) return own;
    const node = own.value[NODE_ANNOTATION];
    out.push({
      namespace,
      name,
      serviceAccount: name,
      labels: labels.value,
      annotations: annotations.value,
      ...(node !== undefined ? { nodeName: node } : {}),
    });
  }
  return ok(out);
}

const SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"; // Kubernetes' random-suffix alphabet

/** Pure and stable: `<gateway>-<5 chars>` from the Gateway's namespace and name. */
export function waypointPodName(namespace: string, name: string): string {
  const h = createHash("sha256").update(`${namespace}/${name}`).digest();
  let s = "";
  for (let i = 0; i < 5; i++) s += SUFFIX_ALPHABET[h[i]! % SUFFIX_ALPHABET.length];
  return `${name}-${s}`;
}

export function waypointIdentity(trustDomain: string, namespace: string, serviceAccount: string): string {
  return `spiffe://${trustDomain}/ns/${namespace}/sa/${serviceAccount}`;
}

/** The pod, Service and token of one waypoint Gateway. */
export function planWaypoint(gw: WaypointGateway, ctx: WaypointContext): Result<WaypointPlan> {
  const where = `Gateway ${gw.namespace}/${gw.name}`;
  let node: string;
  if (gw.nodeName !== undefined) {
    if (!ctx.nodes.includes(gw.nodeName))
      return err(
        new Error(
          `${where}: metadata.annotations.${NODE_ANNOTATION}: ${gw.nodeName} is not a node of this cluster (${ctx.nodes.join(", ")})`,
        ),
      );
    node = gw.nodeName;
  } else node = ctx.nodes[createHash("sha256").update(`${gw.namespace}/${gw.name}`).digest()[0]! % ctx.nodes.length]!;
  const podName = waypointPodName(gw.namespace, gw.name);
  const tokenFile = `tokens/${gw.namespace}.${gw.name}`;
  const selector = { [GATEWAY_NAME_LABEL]: gw.name };
  const labels: Record<string, string> = {
    ...gw.labels,
    ...selector,
    "gateway.istio.io/managed": "istio.io-mesh-controller",
    "istio.io/dataplane-mode": "none",
    "service.istio.io/canonical-name": gw.name,
    "service.istio.io/canonical-revision": "latest",
  };
  const pod: LocalPod = {
    namespace: gw.namespace,
    name: podName,
    labels,
    annotations: { ...gw.annotations },
    serviceAccount: gw.serviceAccount,
    node,
    containers: [
      {
        name: "istio-proxy",
        argv: [
          "weft",
          "waypoint",
          "--name",
          gw.name,
          "--namespace",
          gw.namespace,
          "--service-account",
          gw.serviceAccount,
          "--xds-address",
          ctx.xdsAddress,
          "--token-file",
          `${ctx.stateDir}/${tokenFile}`,
          "--root-cert",
          ctx.rootCert,
          "--trust-domain",
          ctx.trustDomain,
          "--node",
          "$(NODE_NAME)",
          "--pod-name",
          "$(POD_NAME)",
          "--pod-ip",
          "$(POD_IP)",
        ],
        env: { INSTANCE_IP: "$(POD_IP)" },
        ports: [
          { name: "mesh", containerPort: HBONE_PORT },
          { name: "metrics", containerPort: METRICS_PORT },
          { name: "status-port", containerPort: STATUS_PORT },
        ],
      },
    ],
    dir: ctx.stateDir,
  };
  const ports = [
    { name: "status-port", port: STATUS_PORT, targetPort: STATUS_PORT, protocol: "TCP", appProtocol: "tcp" },
    { name: "mesh", port: HBONE_PORT, targetPort: HBONE_PORT, protocol: "TCP", appProtocol: "all" },
  ];
  const serviceObject: Obj = {
    apiVersion: "v1",
    kind: "Service",
    metadata: {
      name: gw.name,
      namespace: gw.namespace,
      labels: { ...gw.labels, ...selector, "gateway.istio.io/managed": "istio.io-mesh-controller" },
      ...(Object.keys(gw.annotations).length ? { annotations: gw.annotations } : {}),
      ownerReferences: [
        { apiVersion: "gateway.networking.k8s.io/v1", kind: "Gateway", name: gw.name, uid: `local-gateway-${gw.namespace}-${gw.name}` },
      ],
    },
    spec: { type: "ClusterIP", selector, ports },
  };
  return ok({
    gateway: gw,
    pod,
    service: {
      namespace: gw.namespace,
      name: gw.name,
      selector,
      ports: ports.map((p) => ({ port: p.port, targetPort: p.targetPort, protocol: p.protocol })),
    },
    serviceObject,
    identity: waypointIdentity(ctx.trustDomain, gw.namespace, gw.serviceAccount),
    tokenFile,
  });
}

/**
 * Plans every waypoint; errors name the Gateway and field. `taken` holds `ns/name` of the
 * Services the user defined: a waypoint's Service must not replace one of them.
 */
export function planWaypoints(objects: readonly Obj[], ctx: WaypointContext, taken: ReadonlySet<string>): Result<WaypointPlan[]> {
  const gws = waypointGateways(objects);
  if (!gws.ok) return gws;
  const out: WaypointPlan[] = [];
  for (const gw of gws.value) {
    if (taken.has(`${gw.namespace}/${gw.name}`))
      return err(
        new Error(
          `Gateway ${gw.namespace}/${gw.name}: metadata.name: a Service ${gw.namespace}/${gw.name} already exists; the waypoint's Service would replace it`,
        ),
      );
    const p = planWaypoint(gw, ctx);
    if (!p.ok) return p;
    out.push(p.value);
  }
  return ok(out);
}
