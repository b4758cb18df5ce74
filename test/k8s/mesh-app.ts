/**
 * The sample app of the install end-to-end test (install.test.ts), as Kubernetes objects: in
 * namespace `wtb-mesh`, a `client` and an `intruder` (each its own ServiceAccount, on node 1)
 * and two servers `echo` and `echo-v2` (ServiceAccount `echo`, on node 2), all weft's sample-app
 * image (images/echo-server.c: an HTTP echo server whose `get` mode is the client). Plus the
 * mesh objects the test applies one after the other: an L4 AuthorizationPolicy, a waypoint
 * Gateway and a header-based HTTPRoute. Pure builders; the test applies them.
 */

export const MESH_NS = "wtb-mesh";
export const TRUST_DOMAIN = "cluster.local";

export const principal = (sa: string): string => `${TRUST_DOMAIN}/ns/${MESH_NS}/sa/${sa}`;
export const spiffe = (sa: string): string => `spiffe://${principal(sa)}`;

type Obj = Record<string, unknown>;

function deployment(name: string, sa: string, node: string, image: string): Obj {
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name, namespace: MESH_NS },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          serviceAccountName: sa,
          nodeSelector: { "kubernetes.io/hostname": node },
          terminationGracePeriodSeconds: 2,
          containers: [
            {
              name: "app",
              image,
              ports: [{ containerPort: 8080 }],
              readinessProbe: { httpGet: { path: "/ready", port: 8080 }, periodSeconds: 2 },
              securityContext: { runAsNonRoot: true, allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } },
            },
          ],
        },
      },
    },
  };
}

const service = (name: string): Obj => ({
  apiVersion: "v1",
  kind: "Service",
  metadata: { name, namespace: MESH_NS },
  spec: { selector: { app: name }, ports: [{ name: "http", port: 80, targetPort: 8080 }] },
});

const serviceAccount = (name: string): Obj => ({ apiVersion: "v1", kind: "ServiceAccount", metadata: { name, namespace: MESH_NS } });

/** The app's Deployments, by the node they run on. */
export const CLIENTS = ["client", "intruder"] as const;
export const SERVERS = ["echo", "echo-v2"] as const;

/** Namespace (not yet enrolled), ServiceAccounts, the four Deployments and the two Services. */
export function sampleApp(image: string, clientNode: string, serverNode: string): string {
  const items: Obj[] = [
    { apiVersion: "v1", kind: "Namespace", metadata: { name: MESH_NS } },
    ...["client", "intruder", "echo"].map(serviceAccount),
    ...CLIENTS.map((c) => deployment(c, c, clientNode, image)),
    ...SERVERS.map((s) => deployment(s, "echo", serverNode, image)),
    ...SERVERS.map(service),
  ];
  return JSON.stringify({ apiVersion: "v1", kind: "List", items });
}

/** ALLOW only `client` to `echo`: every other caller (the intruder) is denied by ztunnel, at L4. */
export function allowOnlyClient(): string {
  return JSON.stringify({
    apiVersion: "security.istio.io/v1",
    kind: "AuthorizationPolicy",
    metadata: { name: "echo-allow-client", namespace: MESH_NS },
    spec: {
      selector: { matchLabels: { app: "echo" } },
      action: "ALLOW",
      rules: [{ from: [{ source: { principals: [principal("client")] } }] }],
    },
  });
}

export const WAYPOINT = "waypoint";

/** A waypoint for the namespace's Services: the control plane deploys it. */
export function waypointGateway(): string {
  return JSON.stringify({
    apiVersion: "gateway.networking.k8s.io/v1",
    kind: "Gateway",
    metadata: { name: WAYPOINT, namespace: MESH_NS, labels: { "istio.io/waypoint-for": "service" } },
    spec: { gatewayClassName: "istio-waypoint", listeners: [{ name: "mesh", port: 15008, protocol: "HBONE" }] },
  });
}

/** On Service echo: `x-version: v2` goes to echo-v2, everything else to echo. */
export function headerRoute(): string {
  return JSON.stringify({
    apiVersion: "gateway.networking.k8s.io/v1",
    kind: "HTTPRoute",
    metadata: { name: "echo-by-version", namespace: MESH_NS },
    spec: {
      parentRefs: [{ group: "", kind: "Service", name: "echo", port: 80 }],
      rules: [
        { matches: [{ headers: [{ name: "x-version", value: "v2" }] }], backendRefs: [{ name: "echo-v2", port: 80 }] },
        { backendRefs: [{ name: "echo", port: 80 }] },
      ],
    },
  });
}
