/**
 * End to end, dual stack, for BOTH capture backends: a two-node `weft local up --ip-family dual` cluster
 * whose pods have an IPv4 and a ULA IPv6 address (inside the cluster's own namespaces only).
 * A dual-stack client on node-0 calls a dual-stack server on node-1 by its IPv6 address and by
 * its IPv4 address, both enrolled (namespace labelled ambient from the start). Checked:
 *  - both calls are served, and the server app sees the client's own address of that family
 *    (ztunnel kept the source, as upstream does);
 *  - on the underlay the IPv6 call is HBONE: nothing to the server's app port, TLS 1.3 on
 *    [server]:15008 with both workload certificates and the CONNECT `:authority` in upstream's
 *    bracketed form `[v6]:8080` (decrypted with Node's own key log), no payload in clear;
 *  - the server's ztunnel logged the connection with the client's SPIFFE identity and the v6
 *    destination;
 *  - an AuthorizationPolicy with an IPv6 ipBlock decides on the IPv6 connection: a DENY of the
 *    client's /128 denies the v6 call and leaves the v4 one alone; an ALLOW of the client pods'
 *    IPv6 /64 admits v6 and denies v4.
 * Root only; about 15 s per backend.
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
  captureUnderlay,
  clientServerYaml,
  componentLog,
  down,
  dualIps,
  nativeCounters,
  peerEchoServer,
  planFor,
  until,
  untilDenied,
  upApp,
} from "./harness.js";
import { describePackets, hboneConnections, packets } from "./wire.js";

const root = process.getuid?.() === 0;
const work = mkdtempSync(path.join(tmpdir(), "weft-e2e-dual-"));
const cluster = `d${process.pid % 100000}`;
const keylog = path.join(work, "tls-keys.log");
if (root) process.env.NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ""} --tls-keylog=${keylog}`.trim();
const BACKENDS = ["ebpf", "nftables"] as const;
const plan = (backend: string) => ({ ...planFor(`${cluster}${backend[0]}`), ipFamily: "dual" as const });
const stateOf = (backend: string) => path.join(work, `state-${backend}`);
const ID = (sa: string) => `spiffe://cluster.local/ns/dual/sa/${sa}`;

after(async () => {
  if (!root) return;
  for (const b of BACKENDS) await down(stateOf(b), plan(b));
  rmSync(work, { recursive: true, force: true });
});

/** A dual-stack Service in front of the server (Kubernetes' form: clusterIPs, ipFamilies, PreferDualStack). */
const VIP4 = "198.19.207.60";
const VIP6 = "fd00:5745:4654:ff00::60";
const APP = `${clientServerYaml("dual")}apiVersion: v1
kind: Service
metadata: { name: web, namespace: dual }
spec:
  clusterIP: ${VIP4}
  clusterIPs: [${VIP4}, "${VIP6}"]
  ipFamilies: [IPv4, IPv6]
  ipFamilyPolicy: PreferDualStack
  selector: { app: server }
  ports: [{ name: http, port: 80, targetPort: 8080 }]
---
apiVersion: v1
kind: Namespace
metadata: { name: plain }
---
apiVersion: v1
kind: Pod
metadata: { name: client, namespace: plain, labels: { app: plain-client } }
spec:
  nodeName: node-0
  containers: [{ name: c, command: ["sleep", "infinity"] }]
`;

const policy = (c: Cluster, name: string, spec: string): { remove(): void } => {
  const file = path.join(c.dir, "config", `test-${name}.yaml`);
  writeFileSync(
    file,
    `apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: { name: ${name}, namespace: dual }\nspec:\n  selector: { matchLabels: { app: server } }\n${spec}\n`,
  );
  return { remove: () => unlinkSync(file) };
};

type Call = { ok: boolean; text: string; code: number };

for (const backend of BACKENDS)
  test(
    `e2e dual stack (${backend}): IPv6 and IPv4 calls between dual-stack pods are HBONE with identities; IPv6 ipBlocks decide`,
    { timeout: 240_000 },
    async (t) => {
      if (!root) {
        console.warn(`!! SKIPPED e2e dual stack (${backend}): needs root (network namespaces, eBPF, nftables)`);
        t.skip("needs root: network namespaces, eBPF, nftables");
        return;
      }
      const c = await upApp({
        work,
        stateDir: stateOf(backend),
        plan: plan(backend),
        backend,
        server: peerEchoServer("dual-payload-"),
        yaml: APP,
        pods: ["dual/client", "dual/server"],
        serving: ["dual/server"],
      });
      const dstLog = componentLog(c, "ztunnel-node-1");
      const srcLog = componentLog(c, "ztunnel-node-0");
      const client = dualIps(c, "dual", "client");
      const server = dualIps(c, "dual", "server");
      assert.match(server.v6, /^fd00:5745:4654:101::/, "the server's IPv6 address is in node-1's ULA pod range");
      const v6url = `http://[${server.v6}]:8080/`;
      const v4url = `http://${server.v4}:8080/`;
      const served = (x: Call, from: string, body: string): boolean =>
        x.ok && x.text.startsWith(`dual-payload-server saw ${from}: ${body}`);
      /** A denial carries the policy's signature: the server's ztunnel logs "connection denied" naming it. */
      const denied = (what: string, url: string, policyName: string) =>
        untilDenied(what, dstLog, () => call(c, "dual", url, "x"), policyName);

      await t.test(
        "IPv6 and IPv4 calls are HBONE on the wire with both identities ([v6]:port authority); the server sees the client's address of each family",
        async () => {
          const file = path.join(work, `${backend}.pcap`);
          let v6: Call = { ok: false, text: "", code: -1 };
          let v4: Call = { ok: false, text: "", code: -1 };
          const at = dstLog.size();
          const srcAt = srcLog.size();
          const engines = await nativeCounters(c);
          const pcap = await captureUnderlay(c, file, async () => {
            await until("v6 call served", async () => ((await call(c, "dual", v6url, "req-dual-v6-warmup")).ok ? true : undefined), 30_000);
            v6 = await call(c, "dual", v6url, "req-dual-v6");
            v4 = await call(c, "dual", v4url, "req-dual-v4");
          });
          assert.ok(served(v6, client.v6, "req-dual-v6"), `v6 served, the client's IPv6 kept as the source: ${v6.text}`);
          assert.ok(served(v4, `::ffff:${client.v4}`, "req-dual-v4"), `v4 served, the client's IPv4 kept as the source: ${v4.text}`);
          // Native engine: both families accepted by node-0's addon capture listeners, both upstreams
          // dialled by node-1's addon from the client's own address (the source checked above).
          await assertEnginePaths(c, engines, { accepted: [3, 0], dialled: [0, 3] });
          for (const ip of [server.v6, server.v4]) {
            const filter = `tcp and host ${ip} and port 8080`;
            const n = await packets(file, filter);
            // A failure says what crossed: each packet, and the connections both ztunnels logged.
            const why = async () => {
              const logged = (log: typeof dstLog, from: number) =>
                log
                  .since(from)
                  .split("\n")
                  .filter((l) => l.includes('"connection complete"') || l.includes('"level":50') || l.includes('"level":40'))
                  .join("\n");
              return `packets (${filter}):\n${await describePackets(file, filter)}\nztunnel-node-0:\n${logged(srcLog, srcAt)}\nztunnel-node-1:\n${logged(dstLog, at)}`;
            };
            assert.equal(n, 0, n === 0 ? "" : `nothing reached ${ip}'s app port over the underlay: ${n} packets\n${await why()}`);
          }
          assert.ok(!pcap.includes("req-dual-v") && !pcap.includes("dual-payload"), "no payload in clear on the underlay");
          assert.ok((await packets(file, `ip6 and tcp and host ${server.v6} and port 15008`)) > 0, "the server was reached on [v6]:15008");
          assert.ok((await packets(file, `ip and tcp and host ${server.v4} and port 15008`)) > 0, "the server was reached on v4:15008");
          const conns = await hboneConnections(file, keylog);
          for (const [authority, addr] of [
            [`[${server.v6}]:8080`, server.v6],
            [`${server.v4}:8080`, server.v4],
          ] as const) {
            const to = conns.filter((x) => x.connects.includes(authority));
            assert.ok(to.length > 0, `a decrypted CONNECT to ${authority}: ${JSON.stringify(conns)}`);
            for (const x of to) {
              assert.equal(x.server, addr, `the HBONE connection for ${authority} went to ${addr}`);
              assert.equal(x.version, "0x0304");
              assert.deepEqual(x.clientCertUris, [ID("client")]);
              assert.deepEqual(x.serverCertUris, [ID("server")]);
            }
          }
          // The server's ztunnel's access log (upstream's fields): the inbound IPv6 connection with the
          // client's SPIFFE identity and IPv6 source.
          let seen: Record<string, unknown>[] = [];
          await until(
            "the server's ztunnel logged the client's identity",
            async () => {
              seen = dstLog
                .since(at)
                .split("\n")
                .filter((l) => l.includes('"connection complete"'))
                .map((l) => JSON.parse(l) as Record<string, unknown>)
                .filter((l) => l.direction === "inbound" && l["dst.workload"] === "server");
              return seen.some(
                (l) =>
                  l["src.identity"] === ID("client") &&
                  String(l["dst.addr"]).includes(server.v6) &&
                  String(l["src.addr"]).includes(client.v6),
              )
                ? true
                : undefined;
            },
            10_000,
          ).catch((e: Error) => {
            throw new Error(`${e.message}: inbound lines ${JSON.stringify(seen)}`);
          });
        },
      );

      await t.test("a DENY of the client's IPv6 /128 denies the IPv6 call only", async () => {
        const p = policy(c, "deny-v6", `  action: DENY\n  rules: [{ from: [{ source: { ipBlocks: ["${client.v6}/128"] } }] }]`);
        try {
          await denied("v6 denied by dual/deny-v6", v6url, "dual/deny-v6");
          const v4 = await call(c, "dual", v4url, "still-v4");
          assert.ok(v4.ok, `the IPv4 call is not matched by an IPv6 block: ${v4.text}`);
        } finally {
          p.remove();
        }
        await until("v6 allowed again", async () => ((await call(c, "dual", v6url, "x")).ok ? true : undefined), 20_000);
      });

      await t.test(
        "a dual-stack Service: ztunnel balances its IPv6 and IPv4 cluster IPs (an endpoint of the VIP's family), the service NAT DNATs both for a pod outside the mesh",
        async () => {
          const at0 = srcLog.size();
          const v6 = await call(c, "dual", `http://[${VIP6}]/`, "via-vip6");
          const v4 = await call(c, "dual", `http://${VIP4}/`, "via-vip4");
          // The server sees the client's address of the family ztunnel reached it by: IPv6 for the IPv6 VIP.
          assert.ok(served(v6, client.v6, "via-vip6"), `the IPv6 VIP is served over an IPv6 endpoint: ${v6.code} ${v6.text}`);
          assert.ok(served(v4, `::ffff:${client.v4}`, "via-vip4"), `the IPv4 VIP is served over an IPv4 endpoint: ${v4.code} ${v4.text}`);
          let out: Record<string, unknown>[] = [];
          await until(
            "the client's ztunnel logged both VIP calls as HBONE to the endpoint of their family",
            async () => {
              out = srcLog
                .since(at0)
                .split("\n")
                .filter((l) => l.includes('"connection complete"'))
                .map((l) => JSON.parse(l) as Record<string, unknown>)
                .filter((l) => l.direction === "outbound");
              const by = (vip: string, hbone: string) =>
                out.some(
                  (l) =>
                    String(l["dst.addr"]).includes(vip) &&
                    l["dst.hbone_addr"] === hbone &&
                    l["dst.service"] === "web.dual.svc.cluster.local",
                );
              return by(VIP6, `[${server.v6}]:8080`) && by(VIP4, `${server.v4}:8080`) ? true : undefined;
            },
            10_000,
          ).catch((e: Error) => {
            throw new Error(`${e.message}: outbound lines ${JSON.stringify(out)}`);
          });
          const plain6 = await call(c, "plain", `http://[${VIP6}]/`, "plain-vip6");
          const plain4 = await call(c, "plain", `http://${VIP4}/`, "plain-vip4");
          assert.ok(
            plain6.ok && plain6.text.includes("plain-vip6"),
            `a pod outside the mesh reaches the IPv6 VIP (service NAT): ${plain6.code} ${plain6.text}`,
          );
          assert.ok(
            plain4.ok && plain4.text.includes("plain-vip4"),
            `a pod outside the mesh reaches the IPv4 VIP (service NAT): ${plain4.code} ${plain4.text}`,
          );
        },
      );

      await t.test("an ALLOW of the client pods' IPv6 /64 admits IPv6 and denies IPv4", async () => {
        const cidr = `${client.v6.replace(/::[0-9a-f]+$/, "::")}/64`;
        const p = policy(c, "allow-v6", `  action: ALLOW\n  rules: [{ from: [{ source: { ipBlocks: ["${cidr}"] } }] }]`);
        try {
          await denied("v4 denied under the IPv6-only ALLOW", v4url, "connection denied");
          const v6 = await call(c, "dual", v6url, "allowed-v6");
          assert.ok(served(v6, client.v6, "allowed-v6"), `the IPv6 client is inside ${cidr}: ${v6.text}`);
        } finally {
          p.remove();
        }
      });
      await down(c.dir, c.plan);
    },
  );
