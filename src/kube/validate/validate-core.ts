/**
 * Strict schemas of the core kinds the mesh reads: v1 Namespace, Pod, Service, ServiceAccount,
 * Node and discovery.k8s.io/v1 EndpointSlice. Every field the Kubernetes API defines at the
 * levels we walk is listed, so ordinary manifests load, and anything else is an unknown field
 * (as `kubectl --validate=strict` reports it). Subtrees the mesh never reads (volumes, probes,
 * affinity...) are `any()`.
 */
import type { Problem, Schema } from "./validate-schema.js";
import { any, arr, bool, dns1123Label, int, intOrString, ipAddress, isPlainObject, map, obj, req, str } from "./validate-schema.js";
import { labels, objectMeta } from "./validate-meta.js";

const PORT = { min: 1, max: 65535 };
const protocol = str({ enum: ["TCP", "UDP", "SCTP"] });

/** A named port (Service targetPort, container port name) is an IANA_SVC_NAME: <= 15 chars, a letter. */
function ianaServiceName(v: string): string | undefined {
  if (v.length > 15 || !/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/.test(v) || !/[a-z]/.test(v) || v.includes("--")) {
    return `${JSON.stringify(v)} is not a valid port name (at most 15 lower case alphanumerics or '-', with a letter)`;
  }
  return undefined;
}

const portNumberOrName = intOrString((v) => {
  if (typeof v === "number") return v < 1 || v > 65535 ? `port must be 1-65535, got ${v}` : undefined;
  return ianaServiceName(v);
});

export const containerPort: Schema = obj({
  name: str({ check: ianaServiceName }),
  containerPort: { ...int(PORT), required: true },
  hostPort: int({ min: 0, max: 65535 }),
  hostIP: str(),
  protocol,
});

export const container: Schema = obj({
  name: req(str({ check: dns1123Label })),
  image: str(),
  command: arr(str()),
  args: arr(str()),
  workingDir: str(),
  ports: arr(containerPort),
  envFrom: any(),
  env: any(),
  resources: any(),
  resizePolicy: any(),
  restartPolicy: str(),
  volumeMounts: any(),
  volumeDevices: any(),
  livenessProbe: any(),
  readinessProbe: any(),
  startupProbe: any(),
  lifecycle: any(),
  terminationMessagePath: str(),
  terminationMessagePolicy: str(),
  imagePullPolicy: str({ enum: ["Always", "Never", "IfNotPresent"] }),
  securityContext: any(),
  stdin: bool(),
  stdinOnce: bool(),
  tty: bool(),
});

export const podSpec: Schema = obj({
  containers: req(arr(container, 1)),
  initContainers: arr(container),
  ephemeralContainers: any(),
  volumes: any(),
  restartPolicy: str({ enum: ["Always", "OnFailure", "Never"] }),
  terminationGracePeriodSeconds: int({ min: 0 }),
  activeDeadlineSeconds: int({ min: 1 }),
  dnsPolicy: str(),
  nodeSelector: map(str()),
  serviceAccountName: str({ check: dns1123Label }),
  serviceAccount: str(),
  automountServiceAccountToken: bool(),
  nodeName: str(),
  hostNetwork: bool(),
  hostPID: bool(),
  hostIPC: bool(),
  shareProcessNamespace: bool(),
  securityContext: any(),
  imagePullSecrets: any(),
  hostname: str(),
  subdomain: str(),
  affinity: any(),
  schedulerName: str(),
  tolerations: any(),
  hostAliases: any(),
  priorityClassName: str(),
  priority: int(),
  dnsConfig: any(),
  readinessGates: any(),
  runtimeClassName: str(),
  enableServiceLinks: bool(),
  preemptionPolicy: str(),
  overhead: any(),
  topologySpreadConstraints: any(),
  setHostnameAsFQDN: bool(),
  os: any(),
  hostUsers: bool(),
  schedulingGates: any(),
  resourceClaims: any(),
  resources: any(),
});

const podIp = obj({ ip: req(str({ check: ipAddress })) });

export const podStatus: Schema = obj({
  phase: str({ enum: ["Pending", "Running", "Succeeded", "Failed", "Unknown"] }),
  conditions: arr(
    obj({
      type: req(str()),
      status: req(str({ enum: ["True", "False", "Unknown"] })),
      observedGeneration: int(),
      lastProbeTime: any(),
      lastTransitionTime: any(),
      reason: str(),
      message: str(),
    }),
  ),
  message: str(),
  reason: str(),
  nominatedNodeName: str(),
  hostIP: str({ check: ipAddress }),
  hostIPs: arr(podIp),
  podIP: str({ check: ipAddress }),
  podIPs: arr(podIp),
  startTime: any(),
  initContainerStatuses: any(),
  containerStatuses: any(),
  ephemeralContainerStatuses: any(),
  qosClass: str(),
  resize: str(),
  resourceClaimStatuses: any(),
  observedGeneration: int(),
  hostNetwork: any(),
});

const servicePort: Schema = obj({
  name: str({ check: dns1123Label }),
  protocol,
  appProtocol: str(),
  port: { ...int(PORT), required: true },
  targetPort: portNumberOrName,
  nodePort: int({ min: 0, max: 65535 }),
});

function serviceSpecCheck(spec: Record<string, unknown>): Problem | undefined {
  const ports = Array.isArray(spec.ports) ? spec.ports : [];
  const type = spec.type ?? "ClusterIP";
  if (type !== "ExternalName" && ports.length === 0 && spec.clusterIP !== "None")
    return { field: "ports", reason: "required: a service needs at least one port" };
  if (ports.length > 1) {
    const names = new Set<string>();
    for (const [i, p] of ports.entries()) {
      const n = isPlainObject(p) ? p.name : undefined;
      if (typeof n !== "string" || n === "") return { field: `ports[${i}].name`, reason: "required when a service has more than one port" };
      if (names.has(n)) return { field: `ports[${i}].name`, reason: `duplicate port name ${JSON.stringify(n)}` };
      names.add(n);
    }
  }
  const cips = spec.clusterIPs;
  if (Array.isArray(cips) && typeof spec.clusterIP === "string" && cips.length > 0 && cips[0] !== spec.clusterIP) {
    return { field: "clusterIPs[0]", reason: `must equal clusterIP ${JSON.stringify(spec.clusterIP)}` };
  }
  if (type === "ExternalName" && typeof spec.externalName !== "string")
    return { field: "externalName", reason: "required for type ExternalName" };
  return undefined;
}

const clusterIp = str({ check: (v) => (v === "None" || v === "" ? undefined : ipAddress(v)) });

export const serviceSpec: Schema = obj(
  {
    ports: arr(servicePort),
    selector: labels,
    clusterIP: clusterIp,
    clusterIPs: arr(clusterIp),
    type: str({ enum: ["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"] }),
    externalIPs: arr(str({ check: ipAddress })),
    sessionAffinity: str({ enum: ["None", "ClientIP"] }),
    loadBalancerIP: str(),
    loadBalancerSourceRanges: arr(str()),
    externalName: str(),
    externalTrafficPolicy: str(),
    healthCheckNodePort: int(),
    publishNotReadyAddresses: bool(),
    sessionAffinityConfig: any(),
    ipFamilies: arr(str({ enum: ["IPv4", "IPv6"] })),
    ipFamilyPolicy: str({ enum: ["SingleStack", "PreferDualStack", "RequireDualStack"] }),
    allocateLoadBalancerNodePorts: bool(),
    loadBalancerClass: str(),
    internalTrafficPolicy: str({ enum: ["Cluster", "Local"] }),
    trafficDistribution: str(),
  },
  { check: serviceSpecCheck },
);

const envelopeFields = { apiVersion: req(str()), kind: req(str()), metadata: req(objectMeta) };

/** Whole-object schemas, keyed `group/Kind` (group empty for core). */
export const coreSchemas: ReadonlyMap<string, Schema> = new Map<string, Schema>([
  ["/Namespace", obj({ ...envelopeFields, spec: obj({ finalizers: arr(str()) }), status: any() })],
  ["/Pod", obj({ ...envelopeFields, spec: req(podSpec), status: podStatus })],
  ["/Service", obj({ ...envelopeFields, spec: req(serviceSpec), status: any() })],
  ["/ServiceAccount", obj({ ...envelopeFields, secrets: any(), imagePullSecrets: any(), automountServiceAccountToken: bool() })],
  [
    "/Node",
    obj({
      ...envelopeFields,
      spec: obj({
        podCIDR: str(),
        podCIDRs: arr(str()),
        providerID: str(),
        unschedulable: bool(),
        taints: any(),
        configSource: any(),
        externalID: str(),
      }),
      status: obj({ addresses: arr(obj({ type: req(str()), address: req(str()) })) }, { open: true }),
    }),
  ],
  [
    "discovery.k8s.io/EndpointSlice",
    obj({
      ...envelopeFields,
      addressType: req(str({ enum: ["IPv4", "IPv6", "FQDN"] })),
      endpoints: arr(
        obj({
          addresses: req(arr(str(), 1)),
          conditions: obj({ ready: bool(), serving: bool(), terminating: bool() }),
          hostname: str(),
          targetRef: obj({
            kind: str(),
            namespace: str(),
            name: str(),
            uid: str(),
            apiVersion: str(),
            resourceVersion: str(),
            fieldPath: str(),
          }),
          nodeName: str(),
          zone: str(),
          hints: any(),
          deprecatedTopology: map(str()),
        }),
      ),
      ports: arr(obj({ name: str(), protocol, port: int({ min: 0, max: 65535 }), appProtocol: str() })),
    }),
  ],
]);
