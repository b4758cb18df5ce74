/**
 * End to end, hairpin, for BOTH capture backends on a dual-stack `weft local up` cluster: an
 * enrolled pod (`self`, node-0) calls a Service whose endpoints include itself. Istio ambient
 * (ztunnel's outbound picks the caller, HBONE to its own `:15008`, inbound connects to the app
 * without the source IP when source and destination are the same address) serves these calls;
 * weft timed out on them with `inbound upstream connect failed` (docs/ztunnel.md "Hairpin").
 * Checked, in IPv4 and IPv6:
 *  - a Service whose only endpoint is the caller: served by the caller, as mTLS (the source and
 *    destination reporters both count it `mutual_tls`, with `self` on both ends) and logged on
 *    the inbound side with the caller's SPIFFE identity and address; the app sees a node address
 *    (weft's ztunnel is in the node's namespace; upstream's in-pod one gives the pod's own IP);
 *  - a Service with the caller and a pod on the other node: every call is served, by both;
 *  - the pod's own IP: served directly inside the pod, not captured (Istio's CNI accepts
 *    `-o lo`), so ztunnel never sees it;
 *  - a DENY for the pod's own identity denies the hairpin Service call (its signature in
 *    ztunnel's log), and, as in Istio, not the uncaptured own-IP call.
 * Root only; about 20 s per backend.
 */
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import {
  type Cluster,
  assertEnginePaths,
  call,
  componentLog,
  counterSum,
  down,
  dualIps,
  nativeCounters,
  peerEchoServer,
  planFor,
  podYaml,
  sh,
  until,
  untilDenied,
  upApp,
  ztunnelMetrics,
} from "./harness.js";

const root = process.getuid?.() === 0;
const work = mkdtempSync(path.join(tmpdir(), "weft-e2e-hairpin-"));
const cluster = `h${process.pid % 100000}`;
const BACKENDS = ["ebpf", "nftables"] as const;
const plan = (backend: string) => ({ ...planFor(`${cluster}${backend[0]}`), ipFamily: "dual" as const });
const stateOf = (backend: string) => path.join(work, `state-${backend}`);
const SELF_ID = "spiffe://cluster.local/ns/hp/sa/self";
const VIP = { self: { v4: "198.19.207.30", v6: "fd00:5745:4654:ff::30" }, multi: { v4: "198.19.207.31", v6: "fd00:5745:4654:ff::31" } };

after(async () => {
  if (!root) return;
  for (const b of BACKENDS) await down(stateOf(b), plan(b));
  rmSync(work, { recursive: true, force: true });
});

const pod = (name: string, node: string, labels: string) => podYaml("hp", name, node, labels, '["node", "server.js"]');
const service = (name: string, selector: string, vip: { v4: string; v6: string }) => `apiVersion: v1
kind: Service
metadata: { name: ${name}, namespace: hp }
spec:
  clusterIP: ${vip.v4}
  clusterIPs: [${vip.v4}, "${vip.v6}"]
  ipFamilies: [IPv4, IPv6]
  ipFamilyPolicy: RequireDualStack
  selector: { ${selector} }
  ports: [{ name: http, port: 80, targetPort: 8080 }]
---
`;
const APP = `apiVersion: v1
kind: Namespace
metadata: { name: hp, labels: { istio.io/dataplane-mode: ambient } }
---
${pod("self", "node-0", "app: self, group: multi")}${pod("other", "node-1", "app: other, group: multi")}${service("self", "app: self", VIP.self)}${service("multi", "group: multi", VIP.multi)}`;

/** curl from the `self` pod. */
const callFromSelf = (c: Cluster, url: string, body: string) => call(c, "hp", url, body, 3, "self");

const url = (ip: string, port: number) => (ip.includes(":") ? `http://[${ip}]:${port}/` : `http://${ip}:${port}/`);

for (const backend of BACKENDS)
  test(
    `e2e hairpin (${backend}): a pod calling a Service that picks the pod itself is served over HBONE, under policy`,
    { timeout: 240_000 },
    async (t) => {
      if (!root) {
        console.warn(`!! SKIPPED e2e hairpin (${backend}): needs root (network namespaces, eBPF, nftables)`);
        t.skip("needs root: network namespaces, eBPF, nftables");
        return;
      }
      const c = await upApp({
        work,
        stateDir: stateOf(backend),
        plan: plan(backend),
        backend,
        server: peerEchoServer("hp-"),
        yaml: APP,
        pods: ["hp/self", "hp/other"],
        serving: ["hp/self", "hp/other"],
      });
      const zlog = componentLog(c, "ztunnel-node-0");
      const self = dualIps(c, "hp", "self");
      // The cross-node pod must answer before the multi Service's calls are counted. `up` now
      // waits for every ztunnel to know every pod, and the HBONE server waits for a
      // just-enrolled pod's certificate (docs/hbone.md); this check stays as a precondition.
      const other = dualIps(c, "hp", "other");
      for (const ip of [other.v4, other.v6])
        await until(
          `hp/other served at ${ip}`,
          async () => ((await callFromSelf(c, url(ip, 8080), "ready")).ok ? true : undefined),
          20_000,
        );

      for (const family of ["v4", "v6"] as const) {
        await t.test(
          `${family}: the Service whose only endpoint is the caller is served by it, as mTLS with its identity on both ends`,
          async () => {
            const labels = { source_workload: "self", destination_workload: "self", connection_security_policy: "mutual_tls" };
            const before = await ztunnelMetrics(c, 0);
            const engines = await nativeCounters(c);
            const at = zlog.size();
            const target = url(VIP.self[family], 80);
            await until(
              "the first hairpin call",
              async () => ((await callFromSelf(c, target, "warmup")).ok ? true : undefined),
              20_000,
            ).catch(async (e: Error) => {
              const x = await callFromSelf(c, target, "diagnose");
              throw new Error(`${e.message}: curl ${x.code} ${x.text.trim()}; ztunnel: ${zlog.since(at).slice(-1500)}`);
            });
            const x = await callFromSelf(c, target, `hairpin-${family}`);
            assert.ok(x.ok && x.text.startsWith("hp-self saw "), `served by the caller itself: ${x.text}`);
            assert.ok(x.text.includes(`: hairpin-${family}`), `the body arrived: ${x.text}`);
            // ztunnel runs in the node's namespace: the app sees the connection from a node address
            // (upstream's in-pod ztunnel dials inside the pod's namespace, so there the pod's own IP).
            const seen = (/^hp-self saw (\S+):/.exec(x.text)?.[1] ?? "").replace(/^::ffff:/, "");
            const nodeAddrs = await sh("ip", ["netns", "exec", c.state.nodes[0]!.netns, "ip", "-o", "addr", "show"]);
            assert.ok(
              seen !== self[family] && nodeAddrs.stdout.includes(` ${seen}/`),
              `the app saw a node-0 address, ${seen}: ${nodeAddrs.stdout}`,
            );
            // Native engine: accepted by node-0's addon listener and dialled by its addon from a node
            // address (the hairpin rule of transparentSource, on dialFd).
            await assertEnginePaths(c, engines, { accepted: [2, 0], dialled: [2, 0] });
            const after = await ztunnelMetrics(c, 0);
            for (const reporter of ["source", "destination"]) {
              const n = (m: string) => counterSum(m, "istio_tcp_connections_opened_total", { ...labels, reporter });
              assert.ok(n(after) - n(before) >= 2, `reporter=${reporter} counted the hairpin calls as mutual_tls self -> self`);
            }
            let inbound: Record<string, unknown>[] = [];
            await until(
              "the inbound access log line with the caller's identity",
              async () => {
                inbound = zlog
                  .since(at)
                  .split("\n")
                  .filter((l) => l.includes('"connection complete"'))
                  .map((l) => JSON.parse(l) as Record<string, unknown>)
                  .filter((l) => l.direction === "inbound" && l["dst.workload"] === "self");
                return inbound.some(
                  (l) => l["src.identity"] === SELF_ID && l["src.workload"] === "self" && String(l["src.addr"]).includes(self[family]),
                )
                  ? true
                  : undefined;
              },
              10_000,
            ).catch((e: Error) => {
              throw new Error(`${e.message}: ${JSON.stringify(inbound)}`);
            });
          },
        );

        await t.test(`${family}: the Service with the caller and another pod serves every call, from both endpoints`, async () => {
          const by = new Map<string, number>();
          for (let i = 0; i < 24; i++) {
            const x = await callFromSelf(c, url(VIP.multi[family], 80), `multi-${i}`);
            assert.ok(x.ok, `call ${i} to the multi Service served: curl ${x.code} ${x.text.trim()}`);
            const who = /^hp-(\w+) saw/.exec(x.text)?.[1] ?? "?";
            by.set(who, (by.get(who) ?? 0) + 1);
          }
          // Random choice among two: both missing from 24 calls has probability 2 * 2^-24.
          assert.ok((by.get("self") ?? 0) > 0 && (by.get("other") ?? 0) > 0, `both endpoints answered: ${JSON.stringify([...by])}`);
        });

        await t.test(`${family}: the pod's own IP is served inside the pod, uncaptured (as Istio's CNI)`, async () => {
          const before = counterSum(await ztunnelMetrics(c, 0), "istio_tcp_connections_opened_total", { destination_workload: "self" });
          const x = await callFromSelf(c, url(self[family], 8080), `own-ip-${family}`);
          assert.ok(x.ok && x.text.startsWith("hp-self saw "), `served: ${x.text}`);
          assert.ok(x.text.includes(` saw ${family === "v4" ? `::ffff:${self.v4}` : self.v6}: `), `the app saw its own address: ${x.text}`);
          const afterN = counterSum(await ztunnelMetrics(c, 0), "istio_tcp_connections_opened_total", { destination_workload: "self" });
          assert.equal(afterN, before, "ztunnel did not carry the call to the pod's own IP");
        });
      }

      await t.test("a DENY for the pod's own identity denies the hairpin Service call (not the uncaptured own-IP call)", async () => {
        const file = path.join(c.dir, "config", "test-deny-self.yaml");
        writeFileSync(
          file,
          `apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: { name: deny-self, namespace: hp }\nspec:\n  selector: { matchLabels: { app: self } }\n  action: DENY\n  rules: [{ from: [{ source: { principals: ["cluster.local/ns/hp/sa/self"] } }] }]\n`,
        );
        try {
          for (const family of ["v4", "v6"] as const) {
            await untilDenied(
              `${family} hairpin denied by hp/deny-self`,
              zlog,
              () => callFromSelf(c, url(VIP.self[family], 80), "x"),
              "hp/deny-self",
            );
            const own = await callFromSelf(c, url(self[family], 8080), "own");
            assert.ok(own.ok, `the own-IP call is not captured, so not denied (as Istio): ${own.text}`);
          }
        } finally {
          unlinkSync(file);
        }
        await until(
          "hairpin allowed again",
          async () => ((await callFromSelf(c, url(VIP.self.v4, 80), "x")).ok ? true : undefined),
          20_000,
        );
      });
      await down(c.dir, c.plan);
    },
  );
