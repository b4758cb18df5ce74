/**
 * weft on the real Kubernetes test bed, end to end (issue 15): `weft install` (the real CLI,
 * bin/weft, with the test bed's kubeconfig and the images imported into the nodes' containerd);
 * a sample app as real pods, client on node 1 and servers on node 2; the namespace labelled
 * `istio.io/dataplane-mode=ambient`; then, each proved from outside weft where possible:
 * - traffic captured and carried over HBONE: a tcpdump on node 1's underlay sees TLS 1.3 to
 *   port 15008 and not the request's marker in clear (the positive control: before enrollment
 *   the same capture does see it), and the destination ztunnel's metrics name both SPIFFE ids;
 * - `weft proxy-status` and `weft ztunnel-config` finding the control plane and the ztunnels
 *   through the API server (Service istiod, DaemonSet ztunnel, port-forwards);
 * - an AuthorizationPolicy enforced by ztunnel (the intruder's call closed, the client's served);
 * - a waypoint Deployment created by the control plane from a Gateway of class istio-waypoint,
 *   Ready, serving a header-based HTTPRoute for a Service labelled istio.io/use-waypoint;
 * - `weft authz explain` (L4 and L7) and `weft dashboard` through port-forwards, and the
 *   port-forward's failures on a real kubelet (inspect-steps.ts);
 * - app pods restarted, and the nodes' ztunnel and CNI agent pods restarted: HBONE again;
 * - `weft uninstall --purge`: no weft object left, and every node's CNI config, BPF pins,
 *   nftables tables, ip rules and tc filters as they were before the install.
 * Root only; skips loudly otherwise. Takes both locks: flock /tmp/weft-test.lock flock /tmp/weft-testbed.lock.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import path from "node:path";
import { randomBytes } from "node:crypto";
import { startTestbed, testbedSkipReason, type Testbed } from "./testbed.js";
import { eventually } from "./daemon.js";
import { allowOnlyClient, headerRoute, MESH_NS, sampleApp, spiffe, waypointGateway, WAYPOINT } from "./mesh-app.js";
import { nodeSnapshot, UnderlayCapture, type NodeSnapshot } from "./node-watch.js";
import { type HboneConnection, hboneConnections, packets } from "../e2e/wire.js";
import { type InspectContext, authzExplainThroughKube, dashboardThroughKube, portForwardFailuresOnKubelet } from "./inspect-steps.js";

const skip = testbedSkipReason();
if (skip) console.warn(`!! SKIPPING the weft-on-Kubernetes end-to-end test: ${skip}`);

const WEFT = path.resolve(__dirname, "../../../bin/weft");
const SYSTEM_NS = "istio-system";

interface Pod {
  metadata: { name: string; uid: string; labels?: Record<string, string>; deletionTimestamp?: string };
  spec: { nodeName?: string };
  status: { podIP?: string; phase?: string; containerStatuses?: { ready: boolean }[] };
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: readonly string[], timeoutMs: number): Promise<Run> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 16 << 20 }, (e, stdout, stderr) =>
      resolve({ code: e ? (typeof e.code === "number" ? e.code : -1) : 0, stdout, stderr }),
    );
  });
}

/** Pods everywhere, and the weft and app pods' recent logs: what a failed run needs to be understood. */
async function clusterDiagnostics(tb: Testbed): Promise<string> {
  const out = [await tb.kubectl(["get", "pods", "-A", "-o", "wide"]).catch((e: Error) => e.message)];
  for (const ns of [SYSTEM_NS, MESH_NS]) {
    const pods = await tb.kubectlJson<{ items: Pod[] }>(["get", "pods", "-n", ns]).catch(() => ({ items: [] as Pod[] }));
    for (const p of pods.items)
      out.push(
        `--- ${ns}/${p.metadata.name}`,
        await tb.kubectl(["logs", "-n", ns, p.metadata.name, "--tail=40"]).catch((e: Error) => e.message),
      );
  }
  return out.join("\n");
}

const marker = (what: string): string => `/${what}-${randomBytes(6).toString("hex")}`;

void describe("weft installed on the real Kubernetes test bed", { skip, timeout: 900_000 }, () => {
  let tb: Testbed;
  let clientNode: string;
  let serverNode: string;
  const baseline = new Map<string, NodeSnapshot>();
  const t0 = Date.now();
  const timings: string[] = [];
  const lap = (what: string): void => void timings.push(`${what} ${((Date.now() - t0) / 1000).toFixed(1)} s`);

  const weft = async (args: string[]): Promise<Run> => {
    const r = await run(WEFT, [...args, `--kubeconfig=${tb.kubeconfigPath}`], 420_000);
    if (r.code !== 0) throw new Error(`weft ${args.join(" ")}: exit ${r.code}\n${r.stdout}\n${r.stderr}\n${tb.diagnostics()}`);
    return r;
  };
  const podsOf = async (ns: string, selector: string): Promise<Pod[]> =>
    (await tb.kubectlJson<{ items: Pod[] }>(["get", "pods", "-n", ns, "-l", selector])).items.filter((p) => !p.metadata.deletionTimestamp);
  const readyPod = async (app: string): Promise<Pod> =>
    eventually(`a Ready ${app} pod`, 120_000, async () => {
      const p = await podsOf(MESH_NS, `app=${app}`);
      return p.length === 1 && p[0]!.status.containerStatuses?.every((c) => c.ready) ? p[0] : undefined;
    });
  /** `echo-server get` in the app's pod: exit code and output (a refused or closed call is not thrown). */
  const call = async (from: string, ip: string, port: number, urlPath: string, headers: string[] = []): Promise<Run> => {
    const pod = await readyPod(from);
    return run(
      tb.bins.kubectl,
      [
        `--kubeconfig=${tb.kubeconfigPath}`,
        "exec",
        "-n",
        MESH_NS,
        pod.metadata.name,
        "--",
        "/echo-server",
        "get",
        ip,
        String(port),
        urlPath,
        ...headers,
      ],
      30_000,
    );
  };
  const serviceIp = async (name: string): Promise<string> =>
    (await tb.kubectlJson<{ spec: { clusterIP: string } }>(["get", "svc", "-n", MESH_NS, name])).spec.clusterIP;
  /** A call from client to echo's Service, seen on the client node's underlay. */
  const capturedCall = async (urlPath: string): Promise<{ out: Run; pcap: Buffer; file: string; cap: UnderlayCapture }> => {
    const cap = await UnderlayCapture.start(tb.nodes.find((n) => n.name === clientNode)!);
    const out = await call("client", await serviceIp("echo"), 80, urlPath);
    return { out, pcap: await cap.stop(), file: cap.pcap, cap };
  };
  /** The HBONE proof: the call served, on the underlay only TLS 1.3 to 15008 and never the marker. */
  const assertHbone = async (what: string, fresh = false): Promise<void> => {
    const m = marker(what);
    let last = "no attempt";
    // Every HBONE connection seen on the underlay across the attempts: an attempt that fails (say, the new ztunnel's
    // certificate is still being fetched) can still open the pooled connection that the next attempt reuses, so the
    // handshake of a fresh ztunnel may be in an earlier attempt's capture, not in the one of the call that passed.
    const seen: HboneConnection[] = [];
    const r = await eventually(`${what}: the call carried over HBONE`, 60_000, async () => {
      const c = await capturedCall(m);
      const hbone = await packets(c.file, "tcp dst port 15008");
      if (hbone > 0) seen.push(...(await hboneConnections(c.file, "/dev/null")));
      if (c.out.code === 0 && !c.pcap.includes(m) && hbone > 0) return c;
      last = `exit ${c.out.code} ${(c.out.stdout + c.out.stderr).slice(0, 200)}; marker in clear: ${c.pcap.includes(m)}; packets to 15008: ${hbone}`;
      c.cap.remove();
      return undefined;
    }).catch((e: Error) => {
      throw new Error(`${e.message}; last attempt: ${last}`);
    });
    try {
      assert.match(r.out.stdout, /^HTTP\/1\.1 200 OK/);
      assert.equal(await packets(r.file, "tcp port 8080"), 0, "no plaintext connection to the app port on the underlay");
      const conns = await hboneConnections(r.file, "/dev/null");
      assert.ok(conns.length > 0, "TLS records to 15008 on the underlay");
      // A pooled HBONE connection opened before the capture shows no handshake; every handshake seen is TLS 1.3.
      for (const c of seen)
        assert.ok(c.version === "0x0304" || c.version === "", `TLS 1.3 on ${c.client} -> ${c.server}:15008: ${c.version}`);
      if (fresh)
        assert.ok(
          seen.some((c) => c.version === "0x0304"),
          `a TLS 1.3 handshake to 15008 captured since the restart: ${JSON.stringify(seen)}`,
        );
    } finally {
      r.cap.remove();
    }
  };
  const ztunnelOn = async (node: string): Promise<Pod> =>
    (await podsOf(SYSTEM_NS, "app.kubernetes.io/name=weft-ztunnel")).find((p) => p.spec.nodeName === node)!;
  /** istio_tcp_connections_opened_total of a node's ztunnel (reporter destination) from `src` to `dst` service accounts. */
  const opened = async (node: string, src: string, dst: string): Promise<number> => {
    const text = await tb.exec(node, ["curl", "-sf", "http://127.0.0.1:15020/metrics"]);
    let n = 0;
    for (const l of text.split("\n"))
      if (
        l.startsWith("istio_tcp_connections_opened_total{") &&
        l.includes('reporter="destination"') &&
        l.includes(`source_principal="${spiffe(src)}"`) &&
        l.includes(`destination_principal="${spiffe(dst)}"`)
      )
        n += Number(l.split(" ").pop());
    return n;
  };
  const rolledOut = async (ns: string, kind: string, name: string): Promise<void> => {
    await tb.kubectl(["rollout", "status", "-n", ns, `${kind}/${name}`, "--timeout=180s"]);
  };

  before(async () => {
    // The bridge CNI (Debian's bridge + host-local), the test bed's default primary network (issue 15, item 6).
    tb = await startTestbed({ nodes: 2 });
    [clientNode, serverNode] = tb.nodes.map((n) => n.name) as [string, string];
    for (const n of tb.nodes) baseline.set(n.name, await nodeSnapshot(tb, n.name));
    lap("test bed up");
  });

  let failed = false;
  /** A test whose failure also prints the cluster's diagnostics at the end. */
  const step = (name: string, fn: () => Promise<void>): void =>
    void test(name, async () => {
      try {
        await fn();
      } catch (e) {
        failed = true;
        throw e;
      }
    });
  after(async () => {
    console.log(`install e2e timings: ${timings.join(", ")}`);
    if (!tb) return;
    if (failed) console.log(await clusterDiagnostics(tb).catch((e: Error) => `diagnostics: ${e.message}`));
    await tb.stop();
  });

  step("weft install: the control plane, and a ztunnel and a CNI agent on every node, Ready", async () => {
    const weftImage = tb.images.find((i) => i.name === "weft")!.ref;
    // The default capture backend (eBPF): bridge ports defer to its program on the bridge device, and captured TCP is
    // untracked, so kube-proxy's DNAT leaves a ClusterIP to ztunnel (docs/capture.md, "Bridge CNIs").
    const r = await weft(["install", `--image=${weftImage}`, "--timeout=4m"]);
    assert.match(r.stdout, /weft installed and ready/);
    lap("installed");
    const pods = await podsOf(SYSTEM_NS, "app.kubernetes.io/part-of=weft");
    const byName = (n: string): Pod[] => pods.filter((p) => p.metadata.labels?.["app.kubernetes.io/name"] === n);
    assert.equal(byName("weft-controlplane").length, 1);
    for (const ds of ["weft-ztunnel", "weft-cni"])
      assert.deepEqual(
        byName(ds)
          .map((p) => p.spec.nodeName)
          .sort(),
        tb.nodes.map((n) => n.name),
        `one ${ds} pod per node`,
      );
    assert.ok(
      pods.every((p) => p.status.containerStatuses?.every((c) => c.ready)),
      "every weft pod Ready",
    );
    for (const n of tb.nodes) {
      const conflist = await tb.exec(n.name, ["cat", "/etc/cni/net.d/10-wtb-bridge.conflist"]);
      assert.match(conflist, /"type": ?"weft-cni"/, `${n.name}: weft's plugin chained into the primary conflist`);
    }
  });

  step("before enrollment (positive control): the underlay capture sees the call in clear", async () => {
    const sample = tb.images.find((i) => i.name === "sample-app")!.ref;
    await tb.kubectl(["apply", "-f", "-"], sampleApp(sample, clientNode, serverNode));
    for (const a of ["client", "intruder", "echo", "echo-v2"]) await readyPod(a);
    lap("app Ready");
    const m = marker("plain");
    const c = await capturedCall(m);
    try {
      assert.equal(c.out.code, 0, c.out.stdout + c.out.stderr);
      assert.ok(c.pcap.includes(m), "the request's marker is on the underlay in clear");
      assert.ok((await packets(c.file, "tcp port 8080")) > 0, "a plaintext connection to the app port");
      assert.equal(await packets(c.file, "tcp port 15008"), 0, "no HBONE yet");
    } finally {
      c.cap.remove();
    }
  });

  step("namespace labelled ambient: captured, carried over HBONE (TLS 1.3 on 15008), SPIFFE identities on both ends", async () => {
    const before = await opened(serverNode, "client", "echo");
    await tb.kubectl(["label", "namespace", MESH_NS, "istio.io/dataplane-mode=ambient"]);
    await assertHbone("enrolled", true);
    lap("HBONE");
    assert.ok(
      (await opened(serverNode, "client", "echo")) > before,
      "the destination ztunnel opened connections from client's to echo's SPIFFE id",
    );
    // ztunnel keeps the client's own address towards the app: the echo server sees the pod IP.
    const client = await readyPod("client");
    const out = await call("client", await serviceIp("echo"), 80, "/peer");
    assert.match(out.stdout, new RegExp(`peer=${client.status.podIP!.replace(/\./g, "\\.")}:`));
  });

  step("weft proxy-status and ztunnel-config find istiod's pod and each node's ztunnel through the API server", async () => {
    // No address flags: the pods behind Service istiod and of DaemonSet ztunnel, each reached by a port-forward.
    type Status = { name: string; type: string; node: string; types: Record<string, { status: string }> };
    const status = await eventually("every ztunnel SYNCED in weft proxy-status", 30_000, async () => {
      const rows = JSON.parse((await weft(["proxy-status", "-o", "json"])).stdout) as Status[];
      const zt = rows.filter((r) => r.type === "ztunnel");
      return zt.length === tb.nodes.length && zt.every((r) => r.types.ADDRESS!.status === "SYNCED" && r.types.AUTHZ!.status === "SYNCED")
        ? zt
        : undefined;
    });
    assert.deepEqual(
      status.map((r) => r.node).sort(),
      tb.nodes.map((n) => n.name),
      "one ztunnel per node connected",
    );
    assert.match((await weft(["proxy-status"])).stdout, /^NAME\s+TYPE\s+NODE\s+ADDRESS\s+AUTHZ/);
    const echo = await readyPod("echo");
    type Workload = { name: string; namespace: string; node: string; tunnelProtocol: string; from: string };
    const wl = JSON.parse(
      (await weft(["ztunnel-config", "workloads", "--node", serverNode, "-n", MESH_NS, "-o", "json"])).stdout,
    ) as Workload[];
    const mine = wl.find((w) => w.name === echo.metadata.name);
    assert.ok(mine, `the echo pod in ${serverNode}'s ztunnel: ${JSON.stringify(wl.map((w) => w.name))}`);
    assert.equal(mine.tunnelProtocol, "HBONE");
    assert.equal(mine.from, serverNode, "answered by the ztunnel on --node");
    assert.match(
      (await weft(["ztunnel-config", "workloads", "--node", serverNode, "-n", MESH_NS])).stdout,
      new RegExp(`${echo.metadata.name}\\s.*HBONE`),
    );
    // Without --node every node's ztunnel answers (a port-forward to each): each holds its own certificates.
    const certs = JSON.parse((await weft(["ztunnel-config", "certificates", "-o", "json"])).stdout) as { from: string }[];
    assert.deepEqual(
      [...new Set(certs.map((c) => c.from))].sort(),
      tb.nodes.map((n) => n.name),
    );
    const none = await run(WEFT, ["ztunnel-config", "workloads", "--node", "no-such-node", `--kubeconfig=${tb.kubeconfigPath}`], 60_000);
    assert.equal(none.code, 2);
    assert.equal(
      none.stderr,
      `weft ztunnel-config workloads: DaemonSet ${SYSTEM_NS}/ztunnel: no Running ztunnel pod on node "no-such-node" (nodes: ${tb.nodes.map((n) => n.name).join(", ")})\n`,
    );
    const wrongNs = await run(WEFT, ["proxy-status", "--istio-namespace", "no-such-ns", `--kubeconfig=${tb.kubeconfigPath}`], 60_000);
    assert.equal(wrongNs.code, 1);
    assert.match(
      wrongNs.stderr,
      /^weft proxy-status: Service no-such-ns\/istiod not found \(https:\/\/[^;]+; is weft or Istio installed\?\)\n$/,
    );
    lap("inspection verbs");
  });

  step("an AuthorizationPolicy: ztunnel closes the intruder's call, the client's is served", async () => {
    const ip = await serviceIp("echo");
    await tb.kubectl(["apply", "-f", "-"], allowOnlyClient());
    const denied = await eventually("the intruder denied", 60_000, async () => {
      const r = await call("intruder", ip, 80, "/intruder");
      return r.code !== 0 ? r : undefined;
    });
    assert.doesNotMatch(denied.stdout, /HTTP\/1\.1/, "no answer from the app at all");
    assert.equal((await call("client", ip, 80, "/allowed")).code, 0, "the client is still allowed");
    // The kubelet's probes are not the policy's business (Istio never captures them): after more than the probes'
    // failure threshold (3 x 2 s) under the policy, echo is still Ready and served.
    const echo = await readyPod("echo");
    await new Promise((r) => setTimeout(r, 8000));
    const still = (await podsOf(MESH_NS, "app=echo")).find((p) => p.metadata.uid === echo.metadata.uid);
    assert.ok(
      still?.status.containerStatuses?.every((c) => c.ready),
      "echo stays Ready under an ALLOW policy (its probes pass)",
    );
    assert.equal((await call("client", ip, 80, "/still-allowed")).code, 0);
    const zt = await ztunnelOn(serverNode);
    const logs = await tb.kubectl(["logs", "-n", SYSTEM_NS, zt.metadata.name]);
    assert.match(logs, /connection closed due to policy rejection/);
    assert.ok(logs.includes(spiffe("intruder")), "the denial names the intruder's identity");
    await tb.kubectl(["delete", "authorizationpolicy", "-n", MESH_NS, "echo-allow-client"]);
    await eventually("the intruder allowed again without the policy", 60_000, async () =>
      (await call("intruder", ip, 80, "/again")).code === 0 ? true : undefined,
    );
    lap("policy");
  });

  step("a waypoint: the control plane deploys it from a Gateway, and it serves a header-based HTTPRoute", async () => {
    await tb.kubectl(["apply", "-f", "-"], waypointGateway());
    const dep = await eventually("the waypoint Deployment", 60_000, async () => {
      const d = await tb.kubectlJson<{ items: { metadata: { name: string; ownerReferences?: { kind: string; name: string }[] } }[] }>([
        "get",
        "deployments",
        "-n",
        MESH_NS,
        "--field-selector",
        `metadata.name=${WAYPOINT}`,
      ]);
      return d.items[0];
    });
    assert.deepEqual(
      dep.metadata.ownerReferences?.map((o) => `${o.kind}/${o.name}`),
      [`Gateway/${WAYPOINT}`],
    );
    await rolledOut(MESH_NS, "deployment", WAYPOINT);
    lap("waypoint Ready");
    await tb.kubectl(["apply", "-f", "-"], headerRoute());
    await tb.kubectl(["label", "service", "-n", MESH_NS, "echo", `istio.io/use-waypoint=${WAYPOINT}`]);
    const ip = await serviceIp("echo");
    const v2 = await eventually("x-version: v2 routed to echo-v2", 90_000, async () => {
      const r = await call("client", ip, 80, "/v2", ["x-version: v2"]);
      return r.code === 0 && /host=echo-v2-/.test(r.stdout) ? r : undefined;
    });
    assert.match(v2.stdout, /x-version: v2/);
    for (let i = 0; i < 3; i++) {
      const r = await call("client", ip, 80, "/v1");
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /host=echo-(?!v2-)/, "without the header: echo");
    }
    // The waypoint, not the client, connected to echo-v2 (its own SPIFFE id at the destination ztunnel).
    assert.ok((await opened(serverNode, WAYPOINT, "echo")) > 0, "connections from the waypoint's identity to the backends");
    lap("route");
  });

  // The inspection verbs that reach ztunnels and waypoints through port-forwards (inspect-steps.ts).
  const inspect = (): InspectContext => ({ tb, serverNode, weftBin: WEFT, weft, readyPod, serviceIp, call });
  step("weft authz explain through the API server: the destination node's ztunnel, and the waypoint at L7", () =>
    authzExplainThroughKube(inspect()),
  );
  step("weft dashboard through the API server: both ztunnels and the waypoint scraped, the client -> echo edge", () =>
    dashboardThroughKube(inspect()),
  );
  step("port-forward failures on a real kubelet: a refused port, a deleted pod: one line each", () =>
    portForwardFailuresOnKubelet(inspect()),
  );

  step("app pods restarted: the new pods are enrolled again", async () => {
    const old = new Set((await podsOf(MESH_NS, "app")).map((p) => p.metadata.uid));
    await tb.kubectl(["rollout", "restart", "-n", MESH_NS, "deployment", "client", "echo", "echo-v2"]);
    for (const d of ["client", "echo", "echo-v2"]) await rolledOut(MESH_NS, "deployment", d);
    for (const a of ["client", "echo"]) assert.ok(!old.has((await readyPod(a)).metadata.uid), `${a}: a new pod`);
    await assertHbone("app-restarted");
    lap("app restart");
  });

  step("ztunnel and CNI agent pods restarted: enrollment kept, HBONE again", async () => {
    const old = new Set((await podsOf(SYSTEM_NS, "app.kubernetes.io/part-of=weft")).map((p) => p.metadata.uid));
    await tb.kubectl(["delete", "pods", "-n", SYSTEM_NS, "-l", "app.kubernetes.io/name in (weft-ztunnel,weft-cni)", "--wait=true"]);
    for (const ds of ["ztunnel", "weft-cni"]) await rolledOut(SYSTEM_NS, "daemonset", ds);
    const now = await podsOf(SYSTEM_NS, "app.kubernetes.io/name in (weft-ztunnel,weft-cni)");
    assert.equal(now.length, 4);
    assert.ok(
      now.every((p) => !old.has(p.metadata.uid)),
      "every node agent is a new pod",
    );
    await assertHbone("agents-restarted", true);
    lap("agents restart");
  });

  step("weft uninstall --purge: nothing of weft left, every node as before the install", async () => {
    const r = await weft(["uninstall", "--purge", "--timeout=4m"]);
    lap("uninstalled");
    assert.match(r.stdout, /uninstall/i);
    const left = async (): Promise<string> =>
      (
        await tb.kubectl([
          "get",
          "all,sa,cm,secret,role,rolebinding,pdb,clusterrole,clusterrolebinding,crd",
          "-A",
          "-l",
          "app.kubernetes.io/part-of=weft",
          "-o",
          "name",
        ])
      ).trim();
    await eventually("no object labelled part-of=weft", 90_000, async () => ((await left()) === "" ? true : undefined));
    await eventually(`Namespace ${SYSTEM_NS} gone`, 90_000, async () =>
      (await tb.kubectl(["get", "namespaces", "-o", "name"])).includes(`namespace/${SYSTEM_NS}\n`) ? undefined : true,
    );
    for (const n of tb.nodes) assert.deepEqual(await nodeSnapshot(tb, n.name), baseline.get(n.name), `${n.name} as before the install`);
    // The app keeps working, uncaptured: the marker is on the underlay in clear again.
    const m = marker("after-uninstall");
    const c = await capturedCall(m);
    try {
      assert.equal(c.out.code, 0, c.out.stdout + c.out.stderr);
      assert.ok(c.pcap.includes(m), "plaintext again after the uninstall");
    } finally {
      c.cap.remove();
    }
  });
});
