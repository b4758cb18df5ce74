/**
 * End to end, IPv6-only pods, for BOTH capture backends: `weft local up --ip-family ipv6` (pods
 * get only their ULA IPv6 address; nodes and the control plane keep both families on the
 * underlay). An enrolled client on node-0 calls an enrolled server on node-1 by its address, by
 * its IPv6-only Service's cluster IP and by the Service's name (the pod's DNS, captured by
 * ztunnel, answers AAAA). Checked: the pods have no IPv4 address, every call is served with the
 * client's IPv6 address kept as the source, the wire carries HBONE on [server]:15008 and
 * nothing to the app port or in clear, and the client's ztunnel logged the Service call.
 * Root only; about 12 s per backend.
 */
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import {
  assertEnginePaths,
  call,
  captureUnderlay,
  clientServerYaml,
  componentLog,
  down,
  nativeCounters,
  peerEchoServer,
  planFor,
  upApp,
  until,
} from "./harness.js";
import { describePackets, packets } from "./wire.js";

const root = process.getuid?.() === 0;
const work = mkdtempSync(path.join(tmpdir(), "weft-e2e-v6only-"));
const cluster = `v${process.pid % 100000}`;
const BACKENDS = ["ebpf", "nftables"] as const;
const plan = (backend: string) => ({ ...planFor(`${cluster}${backend[0]}`), ipFamily: "ipv6" as const });
const stateOf = (backend: string) => path.join(work, `state-${backend}`);

after(async () => {
  if (!root) return;
  for (const b of BACKENDS) await down(stateOf(b), plan(b));
  rmSync(work, { recursive: true, force: true });
});

const VIP6 = "fd00:5745:4654:ff00::70";
const SERVER = peerEchoServer("v6only-payload-");
const TWO_PODS = clientServerYaml("v6only");
const APP = `${TWO_PODS}apiVersion: v1
kind: Service
metadata: { name: web, namespace: v6only }
spec:
  clusterIP: "${VIP6}"
  clusterIPs: ["${VIP6}"]
  ipFamilies: [IPv6]
  ipFamilyPolicy: SingleStack
  selector: { app: server }
  ports: [{ name: http, port: 80, targetPort: 8080 }]
`;

for (const backend of BACKENDS)
  test(
    `e2e IPv6-only pods (${backend}): by address, by Service VIP and by name, HBONE with the client's IPv6 kept`,
    { timeout: 240_000 },
    async (t) => {
      if (!root) {
        console.warn(`!! SKIPPED e2e IPv6-only pods (${backend}): needs root (network namespaces, eBPF, nftables)`);
        t.skip("needs root: network namespaces, eBPF, nftables");
        return;
      }
      const stateDir = stateOf(backend);
      const c = await upApp({
        work,
        stateDir,
        plan: plan(backend),
        backend,
        server: SERVER,
        yaml: APP,
        pods: ["v6only/client", "v6only/server"],
        serving: ["v6only/server"],
      });
      const pod = (name: string) => c.state.pods.find((p) => p.namespace === "v6only" && p.name === name)!;
      const client = pod("client");
      const server = pod("server");
      for (const p of [client, server]) {
        assert.ok(p.ip.includes(":"), `pod ${p.name}'s podIP is IPv6: ${p.ip}`);
        assert.deepEqual(p.ips, [p.ip], `pod ${p.name} has no IPv4 address: ${JSON.stringify(p.ips)}`);
      }
      const srcLog = componentLog(c, "ztunnel-node-0");
      const at = srcLog.size();
      const file = path.join(work, `${backend}.pcap`);
      const calls: Record<string, { ok: boolean; text: string; code: number }> = {};
      const engines = await nativeCounters(c);
      const pcap = await captureUnderlay(c, file, async () => {
        calls.ip = await call(c, "v6only", `http://[${server.ip}]:8080/`, "req-v6only-ip");
        calls.vip = await call(c, "v6only", `http://[${VIP6}]/`, "req-v6only-vip");
        calls.name = await call(c, "v6only", "http://web.v6only.svc.cluster.local/", "req-v6only-name");
      });
      for (const [how, x] of Object.entries(calls))
        assert.ok(
          x.ok && x.text.startsWith(`v6only-payload-server saw ${client.ip}: req-v6only-${how}`),
          `by ${how}: served, the client's IPv6 kept as the source: ${x.code} ${x.text}`,
        );
      // Native engine: the IPv6 capture listener's accept and the IPv6 transparent dial ran in the addon.
      await assertEnginePaths(c, engines, { accepted: [3, 0], dialled: [0, 3] });
      const filter = `tcp and host ${server.ip} and port 8080`;
      const n = await packets(file, filter);
      assert.equal(n, 0, n === 0 ? "" : `nothing to the app port on the underlay: ${n} packets\n${await describePackets(file, filter)}`);
      assert.ok(!pcap.includes("req-v6only") && !pcap.includes("v6only-payload"), "no payload in clear on the underlay");
      assert.ok((await packets(file, `ip6 and tcp and host ${server.ip} and port 15008`)) > 0, "HBONE to [server]:15008");
      assert.equal(await packets(file, `ip and tcp and port 15008`), 0, "no IPv4 HBONE: the pods have no IPv4");
      await until(
        "the client's ztunnel logged the Service call",
        async () =>
          srcLog
            .since(at)
            .split("\n")
            .some((l) => l.includes('"connection complete"') && l.includes(VIP6) && l.includes("web.v6only.svc.cluster.local"))
            ? true
            : undefined,
        10_000,
      );
      await down(stateDir, c.plan);
    },
  );
