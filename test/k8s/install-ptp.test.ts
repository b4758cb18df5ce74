/**
 * The other CNI / capture backend combination, shorter than install.test.ts (which runs the
 * bridge CNI with the default eBPF backend): one node on Debian's ptp plugin (routed veths) and
 * `weft install --capture-backend nftables`. An enrolled client's call to a ClusterIP (kube-proxy
 * DNATs it outside the capture, conntrack bypass) is served through ztunnel: the node's ztunnel
 * counts it with both SPIFFE identities and the server sees the client's pod IP; a node process's
 * call to the same ClusterIP (a client outside the mesh) is served (the inbound capture runs after
 * kube-proxy's DNAT); `weft uninstall`
 * leaves no nftables table of weft on the node. Both pods on one node, so no underlay proof here
 * (install.test.ts has it). Root only; skips loudly otherwise. Takes both locks:
 * flock /tmp/weft-test.lock flock /tmp/weft-testbed.lock.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import path from "node:path";
import { startTestbed, testbedSkipReason, type Testbed } from "./testbed.js";
import { eventually } from "./daemon.js";
import { MESH_NS, sampleApp, spiffe } from "./mesh-app.js";

const skip = testbedSkipReason();
if (skip) console.warn(`!! SKIPPING the ptp + nftables install test: ${skip}`);

const WEFT = path.resolve(__dirname, "../../../bin/weft");

void describe("weft install --capture-backend nftables on a ptp (routed veth) test bed", { skip, timeout: 600_000 }, () => {
  let tb: Testbed;
  let node: string;
  const weft = (args: string[]): Promise<{ stdout: string }> =>
    promisify(execFile)(WEFT, [...args, `--kubeconfig=${tb.kubeconfigPath}`], { timeout: 420_000, maxBuffer: 16 << 20 });
  /** `echo-server get` in the client's pod: the response, or the failure as text. */
  const call = (ip: string, urlPath: string): Promise<string> =>
    tb.kubectl(["exec", "-n", MESH_NS, "deploy/client", "--", "/echo-server", "get", ip, "80", urlPath]).catch((e: Error) => e.message);
  const openedClientToEcho = async (): Promise<number> => {
    const text = await tb.exec(node, ["curl", "-sf", "http://127.0.0.1:15020/metrics"]);
    return text
      .split("\n")
      .filter(
        (l) =>
          l.startsWith("istio_tcp_connections_opened_total{") &&
          l.includes('reporter="destination"') &&
          l.includes(`source_principal="${spiffe("client")}"`) &&
          l.includes(`destination_principal="${spiffe("echo")}"`),
      )
      .reduce((n, l) => n + Number(l.split(" ").pop()), 0);
  };

  before(async () => {
    tb = await startTestbed({ nodes: 1, podNetwork: "ptp" });
    node = tb.nodes[0]!.name;
  });
  after(async () => {
    if (tb) await tb.stop();
  });

  void test("installed with nftables capture, an enrolled client's ClusterIP call goes through ztunnel with SPIFFE ids; uninstall leaves no weft table", async () => {
    const image = (name: string): string => tb.images.find((i) => i.name === name)!.ref;
    const installed = await weft(["install", `--image=${image("weft")}`, "--capture-backend=nftables", "--timeout=4m"]);
    assert.match(installed.stdout, /weft installed and ready/);
    await tb.kubectl(["apply", "-f", "-"], sampleApp(image("sample-app"), node, node));
    await tb.kubectl(["rollout", "status", "-n", MESH_NS, "deploy/client", "deploy/echo", "--timeout=180s"]);
    const echo = (await tb.kubectlJson<{ spec: { clusterIP: string } }>(["get", "svc", "-n", MESH_NS, "echo"])).spec.clusterIP;
    // kube-proxy programs the Service's DNAT asynchronously after its endpoints turn ready, so
    // the first call right after the rollout can still meet no rule (CI saw its connect time out).
    await eventually("served before enrollment", 30_000, async () => {
      const out = await call(echo, "/plain");
      if (!out.startsWith("HTTP/1.1 200 OK")) throw new Error(out);
      return true;
    });
    await tb.kubectl(["label", "namespace", MESH_NS, "istio.io/dataplane-mode=ambient"]);
    const clientIp = (await tb.kubectlJson<{ items: { status: { podIP: string } }[] }>(["get", "pods", "-n", MESH_NS, "-l", "app=client"]))
      .items[0]!.status.podIP;
    await eventually("the client's call counted by ztunnel with both SPIFFE ids", 60_000, async () => {
      const out = await call(echo, "/peer");
      return out.startsWith("HTTP/1.1 200 OK") && out.includes(`peer=${clientIp}:`) && (await openedClientToEcho()) > 0 ? true : undefined;
    });
    // A client outside the mesh calling the enrolled echo's ClusterIP: a node process, whose call
    // kube-proxy DNATs in nat output. The inbound capture runs after that DNAT, so ztunnel's
    // inbound listener takes it. (When it ran first it saw the ClusterIP and let the SYN reach
    // echo directly, and echo's untracked reply was captured as outbound: test/capture's
    // kube-proxy stand-in showed such calls time out.)
    await eventually("a node process's ClusterIP call to the enrolled echo is served", 60_000, async () => {
      const out = await tb.exec(node, ["curl", "-s", "-i", "-m", "5", `http://${echo}/node`]).catch((e: Error) => e.message);
      return out.startsWith("HTTP/1.1 200 OK") ? true : undefined;
    });
    await weft(["uninstall", "--purge", "--timeout=4m"]);
    assert.doesNotMatch(await tb.exec(node, ["nft", "list", "tables"]), /weft/, "no nftables table of weft left on the node");
    assert.match(await call(echo, "/after"), /^HTTP\/1\.1 200 OK/, "the app works in clear again");
  });
});
