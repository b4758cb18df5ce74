/**
 * Transparent capture, end to end, against BOTH redirection backends with the same table of
 * expectations (backend.ts contract): real namespaces, veths, kernel capture, and a ztunnel
 * stand-in made of the addon's transparent listeners (ns-agent.ts). Needs root; skips loudly
 * otherwise.
 */
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { PinnedMap, nativeAvailable } from "../../src/common/native/native.js";
import { CONFIG_VALUE_SIZE } from "../../src/capture/ebpf-maps.js";
import { parseSetElements } from "../../src/capture/nftables-ruleset.js";
import { isWeftFilter } from "../../src/capture/ebpf.js";
import { NodeAgent } from "../../src/cni/agent/agent.js";
import { FileSource } from "../../src/kube/folder/file-source.js";
import type { RedirectBackend } from "../../src/capture/backend.js";
import { run } from "../../src/common/exec.js";
import { type BackendKind, createRedirectBackend } from "../../src/capture/index.js";
import { isRoot, removeNetnsWithPrefix } from "../support/netns.js";
import { GATEWAY, GATEWAY6, NS_PREFIX, type Pod, REMOTE, REMOTE6, Topology } from "./topology.js";

const PORTS = { outbound: 15001, inboundPlaintext: 15006, hbone: 15008 };
const ZTUNNEL_MARK = 0x539;
const DNS_PORT = 15053;
/** A nameserver address nothing in the topology has: only the capture can answer for it. */
const NAMESERVER = "198.19.7.53";
const NAMESERVER6 = "fd00:19:7::53";
const skipReason = !isRoot()
  ? "needs root: network namespaces, tc/nft and bpf()"
  : !nativeAvailable().ok
    ? "native addon not built: run scripts/setup.sh"
    : undefined;
if (skipReason) console.warn(`!! SKIPPING capture tests: ${skipReason}`);

function cleanStalePins(): void {
  if (!existsSync("/sys/fs/bpf")) return;
  for (const d of readdirSync("/sys/fs/bpf")) if (d.startsWith(NS_PREFIX)) rmSync(`/sys/fs/bpf/${d}`, { recursive: true, force: true });
}

function must<T>(r: { ok: true; value: T } | { ok: false; error: Error }): T {
  if (!r.ok) throw r.error;
  return r.value;
}

/** Service addresses (one per family) that only the kube-proxy stand-in's DNAT knows. */
const SERVICE_IP = "198.19.5.1";
const SERVICE_IP6 = "fd00:19:5::1";

/**
 * A stand-in for kube-proxy, named as one: kube-proxy's iptables mode DNATs a ClusterIP to an
 * endpoint in nat PREROUTING (pods) and OUTPUT (node processes, ztunnel), priority -100, which
 * is what this table does, in the node namespace only.
 */
function kubeProxyStandIn(endpoint: Pod): string {
  const rules = [`ip daddr ${SERVICE_IP} tcp dport 80 dnat ip to ${endpoint.ip}:80`];
  if (endpoint.ip6) rules.push(`ip6 daddr ${SERVICE_IP6} tcp dport 80 dnat ip6 to [${endpoint.ip6}]:80`);
  const body = rules.join("\n    ");
  return `table inet wefttest_kube_proxy {
  chain prerouting {
    type nat hook prerouting priority dstnat; policy accept;
    ${body}
  }
  chain output {
    type nat hook output priority -100; policy accept;
    ${body}
  }
}
`;
}

void describe("capture with the nftables backend, bridge pod network", { skip: skipReason }, () => {
  void test("a bridge port is refused with the bridge named and nothing applied (the bridge would forward in clear)", async () => {
    await removeNetnsWithPrefix(NS_PREFIX);
    const topo = await Topology.create("bridge");
    const backend = must(
      createRedirectBackend("nftables", { netns: topo.node.name, instance: "node", ports: PORTS, marks: { ztunnel: ZTUNNEL_MARK } }),
    );
    try {
      must(await backend.setup());
      const { a } = topo.pods;
      const r = await backend.enroll({ name: "default/a", ips: topo.ipv6 ? [a.ip, a.ip6!] : [a.ip], hostVeth: a.hostVeth });
      assert.equal(
        r.ok,
        false,
        `enroll of a bridge port succeeded: ${JSON.stringify(await run("ip", ["-j", "-d", "link", "show", "dev", a.hostVeth], { netns: topo.node.name }))}`,
      );
      assert.match(
        String(!r.ok && r.error.message),
        new RegExp(`pod default/a: hostVeth: ${a.hostVeth} is a port of bridge ${topo.bridge}: .*ebpf`),
      );
      assert.deepEqual(must(await backend.dump()).enrolled, []);
    } finally {
      await backend.teardown();
      await topo.destroy();
    }
  });
});

for (const [network, kind] of [
  ["ptp", "ebpf"],
  ["ptp", "nftables"],
  ["bridge", "ebpf"],
] as Array<["ptp" | "bridge", BackendKind]>) {
  void describe(`capture with the ${kind} backend, ${network} pod network`, { skip: skipReason }, () => {
    let topo: Topology;
    let backend: RedirectBackend;
    let a: Pod, b: Pod, c: Pod;
    const pinRoot = () => `/sys/fs/bpf/${NS_PREFIX}${topo.id}`;
    const make = (k: BackendKind = kind): RedirectBackend =>
      must(
        createRedirectBackend(k, {
          netns: topo.node.name,
          instance: "node",
          pinRoot: pinRoot(),
          ports: PORTS,
          marks: { ztunnel: ZTUNNEL_MARK },
          dns: { port: DNS_PORT, address: GATEWAY, ...(topo.ipv6 ? { address6: GATEWAY6 } : {}) },
        }),
      );
    const enroll = async (p: Pod) => must(await backend.enroll({ name: p.name, ips: [p.ip], hostVeth: p.hostVeth }));
    const unenroll = async (p: Pod) => must(await backend.unenroll({ name: p.name, ips: [p.ip], hostVeth: p.hostVeth }));
    /** Both families of a dual-stack pod, as the CNI agent enrolls them. */
    const dual = (p: Pod) => ({ name: p.name, ips: [p.ip, p.ip6!], hostVeth: p.hostVeth });
    const enrollDual = async (p: Pod) => must(await backend.enroll(dual(p)));
    const unenrollDual = async (p: Pod) => must(await backend.unenroll(dual(p)));
    const v6 = (p: Pod | string, port: number): string => `[${typeof p === "string" ? p : p.ip6}]:${port}`;
    const esc = (s: string): string => s.replace(/[.[\]]/g, "\\$&");
    /** IPv6 tests need IPv6 in the created namespaces (checked when the topology is built). */
    const needV6 = (): boolean => {
      if (topo.ipv6) return true;
      console.warn("!! SKIPPING an IPv6 capture test: IPv6 is disabled in the created namespaces");
      return false;
    };

    before(async () => {
      await removeNetnsWithPrefix(NS_PREFIX);
      cleanStalePins();
      topo = await Topology.create(network);
      ({ a, b, c } = topo.pods);
      for (const p of [a, b, c]) await p.agent.request("listen", { port: 80 });
      await topo.remoteAgent.request("listen", { port: 80 });
      await topo.nodeAgent.request("ztunnel", { ports: Object.values(PORTS), hbone: PORTS.hbone, mark: ZTUNNEL_MARK });
      await topo.nodeAgent.request("dnsServer", { port: DNS_PORT });
      backend = make();
      must(await backend.setup());
    });
    after(async () => {
      if (backend) await backend.teardown();
      if (topo) {
        rmSync(pinRoot(), { recursive: true, force: true });
        await topo.destroy();
      }
    });

    void test("DNS capture: an enrolled pod's UDP query to its nameserver reaches the DNS port; the answer comes back from the nameserver", async () => {
      await enroll(a);
      try {
        const r = await a.agent.request<{ ok: boolean; addresses?: string[]; error?: string }>("resolve", {
          host: NAMESERVER,
          name: "svc.test",
        });
        assert.deepEqual(
          r,
          { ok: true, addresses: ["198.19.9.9"] },
          "Node's resolver accepted the reply: it came from the nameserver's address",
        );
        const ev = (await topo.captured()).filter((e) => e.listener === DNS_PORT);
        assert.equal(ev.length, 1);
        assert.equal(ev[0]!.local, "dns:svc.test");
        assert.ok(ev[0]!.remote.startsWith(`${a.ip}:`), `the DNS proxy sees the pod's address, saw ${ev[0]!.remote}`);
        // A pod that is not enrolled is not captured: nothing answers for that address.
        const plain = await b.agent.request<{ ok: boolean }>("resolve", { host: NAMESERVER, name: "svc.test", timeoutMs: 700 });
        assert.equal(plain.ok, false);
        assert.equal((await topo.captured()).filter((e) => e.listener === DNS_PORT).length, 0);
      } finally {
        await unenroll(a);
      }
    });

    void test("IPv6 DNS capture: an enrolled pod's query to an IPv6 nameserver reaches the DNS port; the answer comes back from that nameserver", async () => {
      if (!needV6()) return;
      await enrollDual(a);
      try {
        const r = await a.agent.request<{ ok: boolean; addresses?: string[]; error?: string }>("resolve", {
          host: NAMESERVER6,
          name: "svc6.test",
        });
        assert.deepEqual(
          r,
          { ok: true, addresses: ["198.19.9.9"] },
          "Node's resolver accepted the reply: it came from the IPv6 nameserver's address",
        );
        const ev = (await topo.captured()).filter((e) => e.listener === DNS_PORT);
        assert.deepEqual(
          ev.map((e) => e.local),
          ["dns:svc6.test"],
        );
        assert.ok(ev[0]!.remote.startsWith(`[${a.ip6}]:`), `the DNS proxy sees the pod's IPv6 address, saw ${ev[0]!.remote}`);
        const plain = await b.agent.request<{ ok: boolean }>("resolve", { host: NAMESERVER6, name: "svc6.test", timeoutMs: 700 });
        assert.equal(plain.ok, false, "a pod that is not enrolled is not captured");
        assert.equal((await topo.captured()).filter((e) => e.listener === DNS_PORT).length, 0);
      } finally {
        await unenrollDual(a);
      }
    });

    void test("an enrolled pod's connection is accepted by the outbound listener with the original destination as local address", async () => {
      await enroll(a);
      try {
        const r = await topo.connect(a, b.ip, 80);
        assert.equal(r.ok, true, r.error);
        assert.match(
          r.data ?? "",
          new RegExp(`^via ztunnel: b saw ${a.ip.replace(/\./g, "\\.")}:\\d+\\n$`),
          "relayed with the client's source IP",
        );
        const ev = await topo.captured();
        assert.equal(ev.length, 1);
        assert.equal(ev[0]!.listener, PORTS.outbound);
        assert.equal(ev[0]!.local, `${b.ip}:80`);
        assert.match(ev[0]!.remote, new RegExp(`^${a.ip}:`));
      } finally {
        await unenroll(a);
      }
    });

    void test("plaintext into an enrolled pod from a non-enrolled pod arrives at the inbound listener", async () => {
      await enroll(b);
      try {
        const r = await topo.connect(a, b.ip, 80);
        assert.equal(r.ok, true, r.error);
        assert.match(r.data ?? "", new RegExp(`^via ztunnel: b saw ${a.ip}:`));
        const ev = await topo.captured();
        assert.deepEqual(
          ev.map((e) => [e.listener, e.local]),
          [[PORTS.inboundPlaintext, `${b.ip}:80`]],
        );
        assert.match(ev[0]!.remote, new RegExp(`^${a.ip}:`));
      } finally {
        await unenroll(b);
      }
    });

    void test("a connection to an enrolled pod's IP on the HBONE port arrives at the HBONE listener", async () => {
      await enroll(b);
      try {
        const r = await topo.connect(c, b.ip, PORTS.hbone);
        assert.deepEqual(r, { ok: true, data: "hbone\n" });
        const ev = await topo.captured();
        assert.deepEqual(
          ev.map((e) => [e.listener, e.local]),
          [[PORTS.hbone, `${b.ip}:${PORTS.hbone}`]],
        );
      } finally {
        await unenroll(b);
      }
    });

    void test("a node process's plaintext connection to an enrolled pod is captured too; ztunnel's own is not", async () => {
      await enroll(b);
      try {
        const r = await topo.connect("node", b.ip, 80);
        assert.equal(r.ok, true, r.error);
        assert.match(r.data ?? "", new RegExp(`^via ztunnel: b saw ${GATEWAY}:`));
        const ev = await topo.captured();
        assert.deepEqual(
          ev.map((e) => e.listener),
          [PORTS.inboundPlaintext],
          "one capture: the relay (marked) went straight in",
        );
      } finally {
        await unenroll(b);
      }
    });

    void test("across the uplink: an enrolled pod reaches a remote host through ztunnel, and remote HBONE and plaintext to it are captured", async () => {
      await enroll(a);
      try {
        const out = await topo.connect(a, REMOTE, 80);
        assert.equal(out.ok, true, out.error);
        assert.match(
          out.data ?? "",
          new RegExp(`^via ztunnel: remote saw ${a.ip}:`),
          "replies to the transparent upstream socket came back through the uplink",
        );
        const inPlain = await topo.connect("remote", a.ip, 80);
        assert.match(inPlain.data ?? "", new RegExp(`^via ztunnel: a saw ${REMOTE}:`));
        const inHbone = await topo.connect("remote", a.ip, PORTS.hbone);
        assert.deepEqual(inHbone, { ok: true, data: "hbone\n" });
        const ev = await topo.captured();
        assert.deepEqual(
          ev.map((e) => [e.listener, e.local]),
          [
            [PORTS.outbound, `${REMOTE}:80`],
            [PORTS.inboundPlaintext, `${a.ip}:80`],
            [PORTS.hbone, `${a.ip}:${PORTS.hbone}`],
          ],
        );
      } finally {
        await unenroll(a);
      }
    });

    void test("IPv6: a dual-stack pod's connections to IPv6 addresses are captured like IPv4 ones (outbound, inbound, HBONE, node, uplink)", async () => {
      if (!needV6()) return;
      await enrollDual(a);
      await enrollDual(b);
      try {
        const out = await topo.connect(a, c.ip6!, 80);
        assert.match(out.data ?? "", new RegExp(`^via ztunnel: c saw \\[${esc(a.ip6!)}\\]:\\d+\\n$`), "outbound, client IPv6 kept");
        const inb = await topo.connect(c, b.ip6!, 80);
        assert.match(inb.data ?? "", new RegExp(`^via ztunnel: b saw \\[${esc(c.ip6!)}\\]:`), "inbound plaintext");
        const hbone = await topo.connect(c, b.ip6!, PORTS.hbone);
        assert.deepEqual(hbone, { ok: true, data: "hbone\n" });
        const node = await topo.connect("node", b.ip6!, 80);
        assert.match(node.data ?? "", new RegExp(`^via ztunnel: b saw \\[${esc(GATEWAY6)}\\]:`), "a node process is captured");
        const remote = await topo.connect(a, REMOTE6, 80);
        assert.match(remote.data ?? "", new RegExp(`^via ztunnel: remote saw \\[${esc(a.ip6!)}\\]:`), "across the uplink");
        const fromRemote = await topo.connect("remote", a.ip6!, 80);
        assert.match(fromRemote.data ?? "", new RegExp(`^via ztunnel: a saw \\[${esc(REMOTE6)}\\]:`));
        const ev = await topo.captured();
        assert.deepEqual(
          ev.map((e) => [e.listener, e.local]),
          [
            [PORTS.outbound, v6(c, 80)],
            [PORTS.inboundPlaintext, v6(b, 80)],
            [PORTS.hbone, v6(b, PORTS.hbone)],
            [PORTS.inboundPlaintext, v6(b, 80)],
            [PORTS.outbound, v6(REMOTE6, 80)],
            [PORTS.inboundPlaintext, v6(a, 80)],
          ],
        );
        // a -> b: enrolled to enrolled, captured once at the source; the IPv4 half still works.
        const both = await topo.connect(a, b.ip6!, 80);
        assert.match(both.data ?? "", /^via ztunnel: b saw \[/);
        const four = await topo.connect(a, b.ip, 80);
        assert.match(four.data ?? "", new RegExp(`^via ztunnel: b saw ${esc(a.ip)}:`));
        assert.deepEqual(
          (await topo.captured()).map((e) => [e.listener, e.local]),
          [
            [PORTS.outbound, v6(b, 80)],
            [PORTS.outbound, `${b.ip}:80`],
          ],
        );
        assert.deepEqual(must(await backend.dump()).enrolled, [a.ip, b.ip, a.ip6!, b.ip6!].sort());
      } finally {
        await unenrollDual(a);
        await unenrollDual(b);
      }
      const direct = await topo.connect(a, b.ip6!, 80);
      assert.match(direct.data ?? "", new RegExp(`^b saw \\[${esc(a.ip6!)}\\]:`), "unenroll restores direct IPv6 traffic");
      assert.deepEqual(await topo.captured(), []);
    });

    void test("IPv6: an IPv6-only enrollment captures IPv6 and leaves the pod's IPv4 alone", async () => {
      if (!needV6()) return;
      must(await backend.enroll({ name: a.name, ips: [a.ip6!], hostVeth: a.hostVeth }));
      try {
        assert.match((await topo.connect(a, b.ip6!, 80)).data ?? "", /^via ztunnel: /);
        assert.match((await topo.connect(a, b.ip, 80)).data ?? "", new RegExp(`^b saw ${esc(a.ip)}:`));
        assert.deepEqual(
          (await topo.captured()).map((e) => e.listener),
          [PORTS.outbound],
        );
      } finally {
        must(await backend.unenroll({ name: a.name, ips: [a.ip6!], hostVeth: a.hostVeth }));
      }
    });

    /**
     * Runs `body` under the kube-proxy stand-in (DNAT of the Service addresses to pod b) with
     * `pod` enrolled (both families when the namespaces have IPv6), then removes all of it.
     */
    const underKubeProxy = async (pod: Pod, body: () => Promise<void>): Promise<void> => {
      const ns = { netns: topo.node.name };
      must(await run("nft", ["-f", "-"], { ...ns, input: kubeProxyStandIn(b) }));
      // As on a node, the Service range has a route (here towards the uplink) before the DNAT.
      must(await run("ip", ["route", "replace", `${SERVICE_IP}/32`, "dev", topo.uplink], ns));
      if (topo.ipv6) must(await run("ip", ["-6", "route", "replace", `${SERVICE_IP6}/128`, "dev", topo.uplink], ns));
      else console.warn("!! SKIPPING the IPv6 half of a kube-proxy test: IPv6 is disabled in the created namespaces");
      if (topo.ipv6) await enrollDual(pod);
      else await enroll(pod);
      try {
        await body();
      } finally {
        if (topo.ipv6) await unenrollDual(pod);
        else await unenroll(pod);
        await run("nft", ["delete", "table", "inet", "wefttest_kube_proxy"], ns);
        await run("ip", ["route", "del", `${SERVICE_IP}/32`], ns);
        if (topo.ipv6) await run("ip", ["-6", "route", "del", `${SERVICE_IP6}/128`], ns);
      }
    };

    void test("under kube-proxy's DNAT an enrolled pod's Service connection reaches ztunnel with the Service address (both families)", () =>
      underKubeProxy(a, async () => {
        const plain = await topo.connect(c, SERVICE_IP, 80);
        assert.match(plain.data ?? "", new RegExp(`^b saw ${esc(c.ip)}:`), "the stand-in DNATs for a pod that is not enrolled");
        // (What ztunnel then connects to is its business: weft's resolves the Service to an
        // endpoint; the stand-in's relay to the Service address works only where the DNAT's
        // replies meet the capture after conntrack, i.e. with eBPF.)
        await topo.connect(a, SERVICE_IP, 80, 800);
        const want: Array<[number, string]> = [[PORTS.outbound, `${SERVICE_IP}:80`]];
        if (topo.ipv6) {
          const plain6 = await topo.connect(c, SERVICE_IP6, 80);
          assert.match(
            plain6.data ?? "",
            new RegExp(`^b saw \\[${esc(c.ip6!)}\\]:`),
            "IPv6: the stand-in DNATs a pod that is not enrolled",
          );
          await topo.connect(a, SERVICE_IP6, 80, 800);
          want.push([PORTS.outbound, v6(SERVICE_IP6, 80)]);
        }
        assert.deepEqual(
          (await topo.captured()).map((e) => [e.listener, e.local]),
          want,
          "ztunnel saw the Service, not the endpoint the DNAT would have chosen",
        );
      }));

    void test("under kube-proxy's DNAT a non-enrolled pod's and a node process's connection to an enrolled pod's Service address is captured inbound (both families)", () =>
      // The DNAT picks the enrolled pod b as the endpoint; ztunnel must see the connection on its
      // inbound listener with b's address (as Istio's, whose capture runs in b's namespace, after
      // the node's kube-proxy), not let it reach b in clear.
      underKubeProxy(b, async () => {
        const calls: Array<[Pod | "node", string, RegExp, string]> = [
          [c, SERVICE_IP, new RegExp(`^via ztunnel: b saw ${esc(c.ip)}:`), `${b.ip}:80`],
          ["node", SERVICE_IP, /^via ztunnel: b saw /, `${b.ip}:80`],
        ];
        if (topo.ipv6)
          calls.push(
            [c, SERVICE_IP6, new RegExp(`^via ztunnel: b saw \\[${esc(c.ip6!)}\\]:`), v6(b, 80)],
            ["node", SERVICE_IP6, /^via ztunnel: b saw \[/, v6(b, 80)],
          );
        for (const [from, service, want, local] of calls) {
          const who = `${typeof from === "string" ? from : from.name} -> ${service}`;
          const r = await topo.connect(from, service, 80);
          assert.match(r.data ?? "", want, `${who}: ${r.error ?? r.data}`);
          assert.deepEqual(
            (await topo.captured()).map((e) => [e.listener, e.local]),
            [[PORTS.inboundPlaintext, local]],
            `${who}: ztunnel's inbound listener took it, with the endpoint's address`,
          );
        }
      }));

    void test("a non-enrolled pod's traffic is untouched", async () => {
      await enroll(c); // enrolled bystander: its programs/set entry must not affect a -> b
      try {
        const r = await topo.connect(a, b.ip, 80);
        assert.equal(r.ok, true, r.error);
        assert.match(r.data ?? "", new RegExp(`^b saw ${a.ip}:`));
        assert.deepEqual(await topo.captured(), []);
      } finally {
        await unenroll(c);
      }
    });

    for (const family of ["IPv4", "IPv6"] as const)
      void test(`with ztunnel down an enrolled pod's ${family} connections fail and nothing reaches the destination`, async () => {
        if (family === "IPv6" && !needV6()) return;
        // IPv6: dual-stack pods enrolled with both addresses, called at their IPv6 ones.
        const addr = (p: Pod): string => (family === "IPv6" ? p.ip6! : p.ip);
        const [on, off] = family === "IPv6" ? [enrollDual, unenrollDual] : [enroll, unenroll];
        await on(a);
        await on(b);
        await topo.nodeAgent.request("ztunnelDown");
        try {
          await topo.served(c);
          await topo.served(b);
          const [out, inb] = await Promise.all([topo.connect(a, addr(c), 80, 1000), topo.connect(c, addr(b), 80, 1000)]);
          assert.equal(out.ok, false, "outbound must not bypass ztunnel");
          assert.equal(inb.ok, false, "inbound must not bypass ztunnel");
          assert.deepEqual(await topo.served(c), [], "nothing reached c in clear");
          assert.deepEqual(await topo.served(b), [], "nothing reached b in clear");
        } finally {
          await topo.nodeAgent.request("ztunnel", { ports: Object.values(PORTS), hbone: PORTS.hbone, mark: ZTUNNEL_MARK });
          await off(a);
          await off(b);
        }
      });

    void test(
      "eBPF: until the config map is marked ready, enrolled traffic is dropped, not passed",
      { skip: kind !== "ebpf" && "eBPF only" },
      async () => {
        await enroll(a);
        const cfg = must(PinnedMap.open(`${pinRoot()}/node/maps/weft_config`, 4, CONFIG_VALUE_SIZE));
        try {
          const ready = must(cfg.lookup(Buffer.alloc(4)))!;
          const notReady = Buffer.from(ready);
          notReady.writeUInt16LE(0, 22);
          must(cfg.update(Buffer.alloc(4), notReady));
          await topo.served(b);
          const r = await topo.connect(a, b.ip, 80, 800);
          assert.equal(r.ok, false);
          assert.deepEqual(await topo.served(b), [], "nothing reached b in clear");
          must(await backend.setup()); // rewrites the config: capture works again
          assert.match((await topo.connect(a, b.ip, 80)).data ?? "", /^via ztunnel: /);
          await topo.captured();
        } finally {
          cfg.close();
          await unenroll(a);
        }
      },
    );

    void test("enroll and unenroll are idempotent, and unenroll restores direct traffic", async () => {
      await enroll(a);
      await enroll(a);
      assert.deepEqual(must(await backend.dump()).enrolled, [a.ip]);
      assert.equal((await topo.connect(a, b.ip, 80)).data?.startsWith("via ztunnel"), true);
      await unenroll(a);
      await unenroll(a);
      await topo.captured();
      const r = await topo.connect(a, b.ip, 80);
      assert.match(r.data ?? "", new RegExp(`^b saw ${a.ip}:`));
      assert.deepEqual(await topo.captured(), []);
      assert.deepEqual(must(await backend.dump()).enrolled, []);
    });

    void test("concurrent enrolls and unenrolls of several pods all apply", async () => {
      await Promise.all([a, b, c].map((p) => enroll(p)));
      assert.deepEqual(must(await backend.dump()).enrolled, [a.ip, b.ip, c.ip]);
      if (kind === "ebpf")
        assert.deepEqual(
          must(await backend.dump())
            .attached.map((x) => x.dev)
            .sort(),
          [...[a, b, c].map((p) => p.hostVeth), ...(topo.bridge ? [topo.bridge] : [])].sort(),
          "each host veth, and on a bridge network the bridge device (ingress)",
        );
      await Promise.all([a, b, c].map((p) => unenroll(p)));
      const d = must(await backend.dump());
      // The bridge device's program stays until teardown: it only acts on frames its ports marked.
      assert.deepEqual([d.enrolled, d.attached.map((x) => x.dev)], [[], kind === "ebpf" && topo.bridge ? [topo.bridge] : []]);
    });

    void test("a bad pod is rejected with the field named and nothing applied", async () => {
      const zoned = await backend.enroll({ name: "default/zoned", ips: ["198.19.1.2", "fe80::1%eth0"], hostVeth: a.hostVeth });
      assert.equal(zoned.ok, false);
      assert.match(String(!zoned.ok && zoned.error.message), /pod default\/zoned: ips: "fe80::1%eth0" is not an IPv4 or IPv6 address/);
      assert.deepEqual(must(await backend.dump()).enrolled, [], "nothing applied");
      // A host veth that cannot be inspected: refused by both backends (fail closed), nothing applied.
      const noDev = await backend.enroll({ name: "default/ghost", ips: ["198.19.1.50"], hostVeth: "wcnosuchdev" });
      assert.equal(noDev.ok, false, "enroll of a pod whose host veth does not exist succeeded");
      assert.match(String(!noDev.ok && noDev.error.message), /pod default\/ghost/);
      if (kind === "nftables")
        assert.match(
          String(!noDev.ok && noDev.error.message),
          new RegExp(
            `^pod default/ghost: enroll refused: checking host veth wcnosuchdev \\(node netns ${topo.node.name}\\): link wcnosuchdev: .*does not exist.*; nothing applied$`,
          ),
        );
      assert.deepEqual(must(await backend.dump()).enrolled, []);
    });

    void test(
      "nftables: an enrollment that fails halfway is refused naming the step and rolled back; what was enrolled before stays",
      { skip: kind !== "nftables" && "nftables only" },
      async () => {
        if (!needV6()) return;
        const ns = { netns: topo.node.name };
        const setElements = async (set: string): Promise<string[]> => {
          const r = must(await run("nft", ["-j", "list", "set", "inet", "weft", set], ns));
          return parseSetElements(r.stdout);
        };
        await enroll(a);
        // Break the IPv6 half from outside: without its rules the set can be replaced by one of IPv4
        // addresses, which still lists but refuses the IPv6 add.
        must(await run("nft", ["flush", "table", "inet", "weft"], ns));
        must(await run("nft", ["delete", "set", "inet", "weft", "enrolled6"], ns));
        must(await run("nft", ["add", "set", "inet", "weft", "enrolled6", "{ type ipv4_addr; }"], ns));
        try {
          const fresh = await backend.enroll(dual(b));
          assert.equal(fresh.ok, false);
          assert.match(
            String(!fresh.ok && fresh.error.message),
            new RegExp(
              `^pod ${esc(b.name)}: enroll refused: adding ${esc(b.ip6!)} to set enrolled6 \\(node netns ${topo.node.name}\\): .*; rolled back \\(${esc(b.ip)} removed again\\)$`,
              "s", // nft's error spans lines
            ),
          );
          assert.deepEqual(await setElements("enrolled"), [a.ip], "b's IPv4 half was taken back");
          // A re-enroll that fails leaves what was there before it.
          const again = await backend.enroll(dual(a));
          assert.equal(again.ok, false);
          assert.match(String(!again.ok && again.error.message), /; nothing applied$/);
          assert.deepEqual(await setElements("enrolled"), [a.ip], "a stays enrolled as before");
        } finally {
          must(await backend.setup()); // the table whole again, a's address in it
          await unenroll(a);
        }
        assert.deepEqual(must(await backend.dump()).enrolled, []);
      },
    );

    void test("agent start-up after a crash with the other backend removes that backend's leftovers too, and nothing that is not weft's", async () => {
      const other: BackendKind = kind === "ebpf" ? "nftables" : "ebpf";
      const ns = { netns: topo.node.name };
      must(await backend.teardown());
      // Not weft's, so kept: an nft table, an ip rule at weft's priority with another selector, another instance's pins.
      const pref = String(backend.node.rulePriority);
      must(await run("nft", ["add", "table", "inet", "wefttest_keep"], ns));
      must(await run("ip", ["rule", "add", "pref", pref, "fwmark", "0x7", "lookup", "main"], ns));
      mkdirSync(`${pinRoot()}/other-instance`, { recursive: true });
      const dir = mkdtempSync(path.join(tmpdir(), "wefttest-agent-"));
      try {
        // The crash: the other backend set up and capturing pod a, never torn down.
        const crashed = make(other);
        must(await crashed.setup());
        if (!(other === "nftables" && topo.bridge)) must(await crashed.enroll({ name: a.name, ips: [a.ip], hostVeth: a.hostVeth }));
        // The restart with this backend: the real agent's start (cleanupStale, then setup), an empty config.
        const fresh = make();
        const agent = new NodeAgent({
          node: "node",
          socketPath: path.join(dir, "cni.sock"),
          stateFile: path.join(dir, "state.json"),
          backend: fresh,
          source: new FileSource({ dir }),
          resyncMs: 0,
        });
        must(await agent.start());
        await agent.stop(); // captures stay, as on an agent restart
        backend = fresh;
        const tables = must(await run("nft", ["list", "tables"], ns)).stdout;
        if (other === "ebpf") {
          for (const dev of [a.hostVeth, ...(topo.bridge ? [topo.bridge] : [])]) {
            for (const dir of ["ingress", "egress"]) {
              const f = await run("tc", ["filter", "show", "dev", dev, dir], ns);
              assert.equal(f.ok && isWeftFilter(f.value.stdout), false, `eBPF filter left on ${dev} ${dir}`);
            }
          }
          assert.doesNotMatch(tables, /^table inet weft_ebpf$/m, "the eBPF backend's conntrack bypass table is gone");
          assert.equal(existsSync(`${pinRoot()}/node`), false, "the eBPF backend's pins are gone");
        } else {
          assert.doesNotMatch(tables, /^table inet weft$/m, "the nftables backend's table is gone");
        }
        for (const f of ["-4", "-6"]) {
          const rules = must(await run("ip", [f, "rule", "show", "pref", pref], ns)).stdout;
          assert.equal(
            rules.split("\n").filter((l) => /lookup 133/.test(l)).length,
            1,
            `one capture rule (this backend's), ip ${f}: ${rules}`,
          );
        }
        // Kept: what is not weft's.
        assert.match(tables, /^table inet wefttest_keep$/m);
        assert.match(must(await run("ip", ["rule", "show", "pref", pref], ns)).stdout, /fwmark 0x7 lookup main/);
        assert.equal(existsSync(`${pinRoot()}/other-instance`), true, "another instance's pins are kept");
        // Pod a is not enrolled with the new backend: its traffic goes direct, nothing captures it.
        const r = await topo.connect(a, b.ip, 80);
        assert.match(r.data ?? "", new RegExp(`^b saw ${esc(a.ip)}:`), r.error);
        assert.deepEqual(await topo.captured(), []);
        // And capture works with the new backend.
        await enroll(a);
        assert.match((await topo.connect(a, b.ip, 80)).data ?? "", /^via ztunnel: /);
        await topo.captured();
        await unenroll(a);
      } finally {
        await run("nft", ["delete", "table", "inet", "wefttest_keep"], ns);
        await run("ip", ["rule", "del", "pref", pref, "fwmark", "0x7", "lookup", "main"], ns);
        rmSync(`${pinRoot()}/other-instance`, { recursive: true, force: true });
        rmSync(dir, { recursive: true, force: true });
      }
    });

    void test("teardown leaves no filter, pin, table or rule behind, and a stale setup is cleaned by cleanupStale", async () => {
      await enroll(a);
      must(await backend.teardown());
      must(await backend.teardown());
      await assertNothingLeft(topo, pinRoot(), [a, b, c]);
      // A "crashed" run: set up and enroll, then drop the object without teardown.
      const crashed = make();
      must(await crashed.setup());
      must(await crashed.enroll({ ips: [a.ip], hostVeth: a.hostVeth }));
      const fresh = make();
      const removed = must(await fresh.cleanupStale());
      assert.ok(removed.length > 0, "cleanupStale reported what it removed");
      await assertNothingLeft(topo, pinRoot(), [a, b, c]);
      assert.deepEqual(must(await fresh.cleanupStale()), [], "nothing left to clean");
      const r = await topo.connect(a, b.ip, 80);
      assert.match(r.data ?? "", new RegExp(`^b saw ${a.ip}:`));
      // Set up again for after()'s teardown symmetry.
      backend = fresh;
      must(await backend.setup());
    });
  });
}

async function assertNothingLeft(topo: Topology, pinRoot: string, pods: Pod[]): Promise<void> {
  const ns = { netns: topo.node.name };
  for (const dev of [...pods.map((p) => p.hostVeth), ...(topo.bridge ? [topo.bridge] : [])]) {
    const q = await run("tc", ["qdisc", "show", "dev", dev], ns);
    assert.equal(q.ok && q.value.stdout.includes("clsact"), false, `clsact left on ${dev}`);
  }
  for (const f of ["-4", "-6"]) {
    const rules = await run("ip", [f, "rule", "show"], ns);
    assert.equal(rules.ok && /lookup 133/.test(rules.value.stdout), false, `policy rule left (ip ${f})`);
    const table = await run("ip", [f, "route", "show", "table", "133"], ns);
    assert.equal(table.ok && table.value.stdout.trim() !== "", false, `local table left (ip ${f})`);
  }
  const nft = await run("nft", ["list", "tables"], ns);
  assert.equal(nft.ok && /^table (ip|inet) weft(_ebpf)?$/m.test(nft.value.stdout), false, "nft table left");
  assert.equal(existsSync(`${pinRoot}/node`), false, "pins left");
}
