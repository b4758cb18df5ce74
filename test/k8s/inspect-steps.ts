/**
 * Steps of the install end-to-end test (install.test.ts) for the inspection verbs that find
 * their targets through the API server, after the sample app is enrolled and the waypoint serves
 * Service echo:
 * - `weft authz explain` by pod name and by IP, asking the ztunnel of the destination's node (a
 *   port-forward to that node's ztunnel pod), and at L7 the waypoint the mesh's state names (a
 *   port-forward to its pod's loopback admin port), each naming the deciding policy;
 * - `weft dashboard` scraping both ztunnels and the waypoint through port-forwards: the graph
 *   has the client -> echo edge with traffic, and echo's identity;
 * - the port-forward's own failures on a real kubelet: nothing listening on the pod's port, and
 *   the pod deleted under an open forward: one line naming the pod and port, quickly.
 * Builders of the policies it applies are here too (pure).
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import type { Testbed } from "./testbed.js";
import { eventually } from "./daemon.js";
import { MESH_NS, WAYPOINT, allowOnlyClient, principal } from "./mesh-app.js";
import { kubePodEndpoint } from "../../src/cli/kube-targets.js";
import { httpGet } from "../../src/cli/targets.js";

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

interface Pod {
  metadata: { name: string };
  spec: { nodeName?: string };
  status: { podIP?: string };
}

export interface InspectContext {
  readonly tb: Testbed;
  readonly serverNode: string;
  readonly weftBin: string;
  /** The CLI with the test bed's kubeconfig; throws on a non-zero exit. */
  weft(args: string[]): Promise<Run>;
  readyPod(app: string): Promise<Pod>;
  serviceIp(name: string): Promise<string>;
  call(from: string, ip: string, port: number, urlPath: string, headers?: string[]): Promise<Run>;
}

/** At the waypoint (targetRefs Service echo): DENY requests for /admin. */
export function denyAdminAtWaypoint(): string {
  return JSON.stringify({
    apiVersion: "security.istio.io/v1",
    kind: "AuthorizationPolicy",
    metadata: { name: "echo-deny-admin", namespace: MESH_NS },
    spec: {
      targetRefs: [{ group: "", kind: "Service", name: "echo" }],
      action: "DENY",
      rules: [{ to: [{ operation: { paths: ["/admin"] } }] }],
    },
  });
}

export async function authzExplainThroughKube(c: InspectContext): Promise<void> {
  const echo = await c.readyPod("echo");
  const intruder = (await c.readyPod("intruder")).metadata.name;
  const client = (await c.readyPod("client")).metadata.name;
  await c.tb.kubectl(["apply", "-f", "-"], allowOnlyClient());
  try {
    const explain = (...a: string[]) => c.weft(["authz", "explain", "-n", MESH_NS, ...a]);
    // By pod name: the ztunnel on echo's node decides, through a port-forward to that node's ztunnel pod.
    const denied = await eventually("the intruder denied in authz explain", 30_000, async () => {
      const r = await explain("--from", intruder, "--to", `${echo.metadata.name}:8080`);
      return /decision: DENY/.test(r.stdout) ? r : undefined;
    });
    assert.match(
      denied.stdout,
      new RegExp(
        `^from ${MESH_NS}/${intruder} \\S+ \\(spiffe://${principal("intruder").replace(/\./g, "\\.")}\\) to ${MESH_NS}/${echo.metadata.name} \\S+:8080, decided by the ztunnel on ${c.serverNode}\\n`,
      ),
    );
    assert.match(denied.stdout, new RegExp(`policy ${MESH_NS}/echo-allow-client \\[ALLOW`));
    // By IP, and the client the policy allows.
    const allowed = await explain("--from", client, "--to", `${echo.status.podIP}:8080`);
    assert.match(allowed.stdout, new RegExp(`decided by the ztunnel on ${c.serverNode}\\n`));
    assert.match(allowed.stdout, /decision: ALLOW/);
  } finally {
    await c.tb.kubectl(["delete", "authorizationpolicy", "-n", MESH_NS, "echo-allow-client"]);
  }
  // L7: the waypoint serving Service echo, found from a ztunnel's state and reached on its pod's loopback admin port.
  await c.tb.kubectl(["apply", "-f", "-"], denyAdminAtWaypoint());
  try {
    const ip = await c.serviceIp("echo");
    const l7 = (p: string) => c.weft(["authz", "explain", "-n", MESH_NS, "--from", client, "--to", `${ip}:80`, "--path", p]);
    const admin = await eventually("the waypoint denies /admin in authz explain", 30_000, async () => {
      const r = await l7("/admin");
      return /decision: DENY/.test(r.stdout) ? r : undefined;
    });
    assert.match(
      admin.stdout,
      new RegExp(
        `^GET /admin from ${MESH_NS}/client-\\S+ .* decided by waypoint ${MESH_NS}/${WAYPOINT} \\(pod ${MESH_NS}/${WAYPOINT}-\\S+\\), serving Service ${MESH_NS}/echo\\n`,
      ),
    );
    assert.match(admin.stdout, new RegExp(`decision: DENY \\(403 RBAC: access denied\\): ${MESH_NS}/echo-deny-admin rule 0`));
    assert.match((await l7("/v1")).stdout, /decision: ALLOW/);
  } finally {
    await c.tb.kubectl(["delete", "authorizationpolicy", "-n", MESH_NS, "echo-deny-admin"]);
  }
}

interface Snap {
  source: string;
  problems: string[];
  graph: {
    nodes: Array<{ id: string; identity?: string }>;
    edges: Array<{ from: string; to: string; connectionsPerSecond: number; requestsPerSecond?: number }>;
  };
}

export async function dashboardThroughKube(c: InspectContext): Promise<void> {
  const p = spawn(c.weftBin, ["dashboard", "--listen", "127.0.0.1:0", "--interval", "1", `--kubeconfig=${c.tb.kubeconfigPath}`], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  p.stdout.on("data", (d: Buffer) => (out += d.toString()));
  p.stderr.on("data", (d: Buffer) => (err += d.toString()));
  try {
    const url = await eventually("the dashboard's address", 60_000, async () => {
      if (p.exitCode !== null) throw new Error(`weft dashboard exited ${p.exitCode}: ${out}${err}`);
      return /^weft dashboard: (http:\/\/127\.0\.0\.1:\d+\/) \(scraping 3 metrics endpoint\(s\)\)\n$/.exec(out)?.[1];
    }).catch((e: Error) => {
      throw new Error(`${e.message}; stdout ${JSON.stringify(out)}; stderr ${err.slice(-2000)}`);
    });
    const ip = await c.serviceIp("echo");
    const svc = `svc:echo.${MESH_NS}.svc.cluster.local`;
    let last: Snap | undefined;
    const snap = await eventually("the client -> echo edge with traffic in the graph", 90_000, async () => {
      for (let i = 0; i < 3; i++) await c.call("client", ip, 80, `/dash-${i}`);
      last = (await (await fetch(`${url}api/graph`)).json()) as Snap;
      const e = last.graph.edges.find((x) => x.from === `wl:${MESH_NS}/client` && x.to === svc);
      return e && (e.connectionsPerSecond > 0 || (e.requestsPerSecond ?? 0) > 0) ? last : undefined;
    }).catch((e: Error) => {
      throw new Error(`${e.message}; last graph: ${JSON.stringify(last)}; stderr ${err.slice(-2000)}`);
    });
    assert.equal(snap.source, "scraping 3 metrics endpoint(s)");
    const echo = snap.graph.nodes.find((n) => n.id === `wl:${MESH_NS}/echo`);
    assert.equal(echo?.identity, `spiffe://${principal("echo")}`);
    assert.deepEqual(
      snap.problems.filter((x) => /port-forward|ztunnel|waypoint/.test(x)),
      [],
      "every ztunnel and the waypoint answered",
    );
  } finally {
    p.kill("SIGTERM");
    await new Promise((r) => (p.exitCode !== null ? r(undefined) : p.once("exit", r)));
  }
  assert.equal(p.exitCode, 0, `weft dashboard ends cleanly on SIGTERM: ${err.slice(-2000)}`);
}

/** The port-forward's failures that need a kubelet: a port nobody listens on; the pod deleted under an open forward. */
export async function portForwardFailuresOnKubelet(c: InspectContext): Promise<void> {
  const t = { kubeconfig: c.tb.kubeconfigPath };
  const echo = await c.readyPod("echo");
  const refused = await kubePodEndpoint(t, MESH_NS, echo.metadata.name, 9999);
  try {
    const t0 = Date.now();
    const r = await httpGet(refused, "/metrics");
    assert.ok(!r.ok);
    assert.ok(Date.now() - t0 < 10_000, `answered in ${Date.now() - t0} ms`);
    assert.doesNotMatch(r.error.message, /\n/);
    assert.match(
      r.error.message,
      new RegExp(
        `^pod ${MESH_NS}/${echo.metadata.name} port 9999 /metrics: port-forward to pod ${MESH_NS}/${echo.metadata.name} port 9999: .*9999.*(refused|connect)`,
        "i",
      ),
    );
  } finally {
    await refused.close();
  }
  // A throwaway pod (so the app's are left alone): forwarded while it runs, then deleted.
  const intruder = await c.readyPod("intruder");
  const ok = await kubePodEndpoint(t, MESH_NS, intruder.metadata.name, 8080);
  try {
    assert.ok((await httpGet(ok, "/ready")).ok, "the forward works while the pod runs");
    await c.tb.kubectl(["delete", "pod", "-n", MESH_NS, intruder.metadata.name, "--wait=true"]);
    const t0 = Date.now();
    const gone = await httpGet(ok, "/ready");
    assert.ok(!gone.ok);
    assert.ok(Date.now() - t0 < 10_000, `answered in ${Date.now() - t0} ms`);
    assert.doesNotMatch(gone.error.message, /\n/);
    assert.match(
      gone.error.message,
      new RegExp(
        `^pod ${MESH_NS}/${intruder.metadata.name} port 8080 /ready: port-forward to pod ${MESH_NS}/${intruder.metadata.name} port 8080`,
      ),
    );
  } finally {
    await ok.close();
  }
  await c.readyPod("intruder");
}
