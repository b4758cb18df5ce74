/**
 * The real Kubernetes test bed runs real pods: a Deployment of weft's sample app (2 replicas,
 * one per node) behind a Service, on kubelet + containerd + runc with Debian's bridge CNI and
 * kube-proxy (iptables, inside each node's namespace). Checks pod-to-pod traffic across nodes
 * without NAT, pod-to-Service load balancing, that pods reach nothing outside the machine, a
 * container restart after its process is killed, a kubelet restart that keeps the pods, and a
 * clean teardown. Root only; skips loudly otherwise. Run under `flock /tmp/weft-testbed.lock`.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync } from "node:fs";
import { startTestbed, testbedSkipReason, type Testbed } from "./testbed.js";
import { eventually } from "./daemon.js";
import { PREFIX, RUN_ROOT, STATE_ROOT, UNDERLAY_NS } from "./topology.js";
import { sh } from "../support/netns.js";

const skip = testbedSkipReason();
if (skip) console.warn(`!! SKIPPING the Kubernetes test bed tests: ${skip}`);

interface Pod {
  metadata: { name: string; uid: string };
  spec: { nodeName?: string };
  status: { podIP?: string; containerStatuses?: { containerID?: string; restartCount: number; ready: boolean }[] };
}

const NS = "wtb-e2e";

function app(image: string): string {
  return JSON.stringify({
    apiVersion: "v1",
    kind: "List",
    items: [
      { apiVersion: "v1", kind: "Namespace", metadata: { name: NS } },
      {
        apiVersion: "apps/v1",
        kind: "Deployment",
        metadata: { name: "echo", namespace: NS },
        spec: {
          replicas: 2,
          selector: { matchLabels: { app: "echo" } },
          template: {
            metadata: { labels: { app: "echo" } },
            spec: {
              // One per node: the pod-to-pod check crosses the underlay.
              affinity: {
                podAntiAffinity: {
                  requiredDuringSchedulingIgnoredDuringExecution: [
                    { labelSelector: { matchLabels: { app: "echo" } }, topologyKey: "kubernetes.io/hostname" },
                  ],
                },
              },
              containers: [
                {
                  name: "echo",
                  image,
                  ports: [{ containerPort: 8080 }],
                  readinessProbe: { httpGet: { path: "/ready", port: 8080 }, periodSeconds: 2 },
                  securityContext: { runAsNonRoot: true, allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } },
                },
              ],
            },
          },
        },
      },
      {
        apiVersion: "v1",
        kind: "Service",
        metadata: { name: "echo", namespace: NS },
        spec: { selector: { app: "echo" }, ports: [{ port: 80, targetPort: 8080 }] },
      },
    ],
  });
}

void describe("Kubernetes test bed: real pods", { skip }, () => {
  let tb: Testbed;
  let pods: Pod[];
  const podsNow = async (): Promise<Pod[]> => (await tb.kubectlJson<{ items: Pod[] }>(["get", "pods", "-n", NS, "-l", "app=echo"])).items;
  const allReady = async (): Promise<Pod[] | undefined> => {
    const p = await podsNow();
    return p.length === 2 && p.every((x) => x.status.podIP && x.status.containerStatuses?.every((c) => c.ready)) ? p : undefined;
  };
  /** `echo-server get` inside a pod: its stdout, or the error with exit code. */
  const getFrom = async (pod: Pod, ip: string, port: number, path = "/"): Promise<string> =>
    tb.kubectl(["exec", "-n", NS, pod.metadata.name, "--", "/echo-server", "get", ip, String(port), path]);
  const serviceIp = async (): Promise<string> =>
    (await tb.kubectlJson<{ spec: { clusterIP: string } }>(["get", "svc", "-n", NS, "echo"])).spec.clusterIP;

  before(async () => {
    tb = await startTestbed({ nodes: 2 });
    const sample = tb.images.find((i) => i.name === "sample-app")!;
    await tb.kubectl(["apply", "-f", "-"], app(sample.ref));
    pods = await eventually("2 echo pods Ready", 120_000, allReady);
  });

  after(async () => {
    if (!tb) return;
    await tb.stop();
    const left = [
      ...readdirSync("/run/netns").filter((n) => n.startsWith(PREFIX)),
      ...readdirSync("/sys/fs/cgroup/memory").filter((n) => n.startsWith(PREFIX)),
      ...[RUN_ROOT, STATE_ROOT].filter((d) => existsSync(d)),
    ];
    assert.deepEqual(left, [], "the test bed left namespaces, cgroups or state behind");
  });

  test("two Nodes run containerd from Debian, with their pod ranges", async () => {
    const nodes = (
      await tb.kubectlJson<{
        items: { metadata: { name: string }; spec: { podCIDR?: string }; status: { nodeInfo: { containerRuntimeVersion: string } } }[];
      }>(["get", "nodes"])
    ).items;
    assert.deepEqual(
      nodes.map((n) => [n.metadata.name, n.spec.podCIDR]),
      tb.nodes.map((n) => [n.name, n.podCidr]),
    );
    for (const n of nodes) assert.match(n.status.nodeInfo.containerRuntimeVersion, /^containerd:\/\/1\./);
    assert.deepEqual(new Set(pods.map((p) => p.spec.nodeName)), new Set(tb.nodes.map((n) => n.name)), "one echo pod per node");
  });

  test("pod to pod across nodes: the server sees the client's own pod IP (no NAT)", async () => {
    const [a, b] = pods as [Pod, Pod];
    const out = await getFrom(a, b.status.podIP!, 8080, "/hello");
    assert.match(out, /^HTTP\/1\.1 200 OK/);
    assert.match(out, new RegExp(`host=${b.metadata.name} peer=${a.status.podIP!.replace(/\./g, "\\.")}:\\d+ `));
    assert.match(out, /GET \/hello HTTP\/1\.1/);
  });

  test("pod to Service: kube-proxy balances over both pods", async () => {
    const ip = await serviceIp();
    const seen = new Set<string>();
    for (let i = 0; i < 24 && seen.size < 2; i++) {
      const out = await getFrom(pods[0]!, ip, 80);
      seen.add(/host=(\S+)/.exec(out)![1]!);
    }
    assert.deepEqual(seen, new Set(pods.map((p) => p.metadata.name)));
  });

  test("cluster DNS: a pod resolves Services through kube-dns with its search path, and nothing outside", async () => {
    const weft = tb.images.find((i) => i.name === "weft")!;
    const script = [
      "const dns = require('node:dns').promises;",
      "const q = (n) => dns.lookup(n, { family: 4 }).then((r) => r.address, (e) => e.code);",
      "Promise.all(['echo', 'echo.wtb-e2e.svc.cluster.local', 'kubernetes.default', 'example.com'].map(q)).then((r) => console.log(JSON.stringify(r)));",
    ].join(" ");
    const pod = {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "dns-probe", namespace: NS },
      spec: { restartPolicy: "Never", containers: [{ name: "probe", image: weft.ref, command: ["/usr/local/bin/node", "-e", script] }] },
    };
    await tb.kubectl(["apply", "-f", "-"], JSON.stringify(pod));
    await eventually("the DNS probe pod finished", 90_000, async () => {
      const p = await tb.kubectlJson<{ status: { phase: string } }>(["get", "pod", "-n", NS, "dns-probe"]);
      if (p.status.phase === "Failed") throw new Error(await tb.kubectl(["logs", "-n", NS, "dns-probe"]));
      return p.status.phase === "Succeeded" ? true : undefined;
    });
    const [short, full, kube, outside] = JSON.parse(await tb.kubectl(["logs", "-n", NS, "dns-probe"])) as string[];
    const ip = await serviceIp();
    assert.deepEqual([short, full, kube], [ip, ip, "10.252.0.1"]);
    assert.match(outside!, /^E(NOTFOUND|AI_AGAIN)$/);
    await tb.kubectl(["delete", "pod", "-n", NS, "dns-probe", "--wait=false"]);
  });

  test("nothing in the test bed has a route out of the machine", async () => {
    // Asked of the routing tables, not by sending: no packet may leave even if this failed. The
    // probe is the host's own gateway, the one address a leak would reach first.
    const gw = /via (\S+)/.exec(await sh("ip", ["route", "show", "default"]))?.[1] ?? "192.0.2.1";
    for (const ns of [UNDERLAY_NS, ...tb.nodes.map((n) => n.netns)]) {
      assert.equal((await sh("ip", ["route", "show", "default"], ns)).trim(), "", `${ns} has a default route`);
      await assert.rejects(sh("ip", ["route", "get", gw], ns), /Network is unreachable/, `${ns} routes ${gw}`);
    }
    // A pod's default route ends in its node, which has none: the pod's own view.
    const routes = await tb
      .kubectl(["exec", "-n", NS, pods[0]!.metadata.name, "--", "/echo-server", "get", tb.nodes[0]!.podGateway, "1"])
      .catch((e: Error) => e.message);
    assert.match(routes, /exit code 3/, "nothing listens on the node's bridge address port 1: the pod reaches its node and is refused");
  });

  test("a killed container is restarted by its kubelet and serves again", async () => {
    const victim = pods[1]!;
    const id = victim.status.containerStatuses![0]!.containerID!.replace(/^containerd:\/\//, "");
    await tb.ctr(victim.spec.nodeName!, ["tasks", "kill", "--signal", "SIGKILL", id]);
    const back = await eventually("the killed container restarted and Ready", 90_000, async () => {
      const p = (await podsNow()).find((x) => x.metadata.uid === victim.metadata.uid);
      const c = p?.status.containerStatuses?.[0];
      return c && c.restartCount >= 1 && c.ready ? p : undefined;
    });
    assert.equal(back.status.podIP, victim.status.podIP, "same pod sandbox, same IP");
    assert.match(await getFrom(pods[0]!, victim.status.podIP!, 8080), new RegExp(`host=${victim.metadata.name} `));
  });

  test("a deleted pod is replaced by its Deployment and joins the Service", async () => {
    const gone = pods[1]!;
    await tb.kubectl(["delete", "pod", "-n", NS, gone.metadata.name, "--wait=true"]);
    const now = await eventually("a replacement pod Ready", 90_000, async () => {
      const p = await allReady();
      return p?.every((x) => x.metadata.uid !== gone.metadata.uid) ? p : undefined;
    });
    const fresh = now.find((x) => x.metadata.uid !== pods[0]!.metadata.uid)!;
    const ip = await serviceIp();
    await eventually("the Service reaches the new pod", 30_000, async () => {
      const out = await getFrom(pods[0]!, ip, 80);
      return out.includes(`host=${fresh.metadata.name} `) ? true : undefined;
    });
    pods = now;
  });

  test("a kubelet restart keeps the pods and their containers", async () => {
    const before = await podsNow();
    const node = before[0]!.spec.nodeName!;
    await tb.restartKubelet(node);
    await eventually(`Node ${node} Ready after its kubelet restart`, 60_000, async () => {
      const n = await tb.kubectlJson<{ status: { conditions: { type: string; status: string; lastHeartbeatTime: string }[] } }>([
        "get",
        "node",
        node,
      ]);
      return n.status.conditions.some(
        (c) => c.type === "Ready" && c.status === "True" && Date.parse(c.lastHeartbeatTime) > Date.now() - 30_000,
      )
        ? true
        : undefined;
    });
    const afterRestart = await eventually("pods Ready after the kubelet restart", 60_000, allReady);
    const key = (p: Pod): string =>
      `${p.metadata.uid} ${p.status.containerStatuses![0]!.containerID} ${p.status.containerStatuses![0]!.restartCount}`;
    assert.deepEqual(afterRestart.map(key).sort(), before.map(key).sort(), "same pods, same containers, no extra restarts");
    const ip = await serviceIp();
    // exec goes through the restarted kubelet, which knows its pods again after its first sync.
    const out = await eventually("exec through the restarted kubelet", 30_000, () => getFrom(afterRestart[0]!, ip, 80));
    assert.match(out, /^HTTP\/1\.1 200 OK/);
  });
});
