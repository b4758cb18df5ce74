/**
 * End to end: `weft local up` returns only once every ztunnel knows every pod by all its
 * addresses (src/local/settled.ts). Before that, a call to a pod's address is passthrough: the
 * source ztunnel does not know the destination, and an unknown address goes direct under
 * ALLOW_ANY, as upstream's does. That window made test/e2e/dual-stack.test.ts fail once in a
 * loaded CI run: 6 packets to the server's app port on the underlay, a plaintext POST of the
 * warm-up call refused by the server's ztunnel ("unknown target"). Here the window is made wide
 * on purpose: the control plane is frozen (SIGSTOP) as soon as both ztunnels are ready, before
 * any pod exists, and thawed 3 s later. Checked: `up` returned after the thaw, the very first
 * call (IPv6, then IPv4) is served, and nothing of it crosses the underlay in clear or to the app
 * port. On the code before the fix `up` returned while the control plane was frozen and the call
 * was refused (source unknown) or, once the client was known, sent in plaintext.
 * Root only; about 15 s.
 */
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { up } from "../../src/local/cluster.js";
import { makePlan } from "../../src/local/plan.js";
import { readPids } from "../../src/local/supervisor.js";
import { httpGetIn } from "../../src/local/network.js";
import { type Cluster, call, captureUnderlay, clientServerYaml, down, peerEchoServer, planFor } from "./harness.js";
import { describePackets, packets } from "./wire.js";

const root = process.getuid?.() === 0;
const work = mkdtempSync(path.join(tmpdir(), "weft-e2e-settled-"));
const plan = { ...planFor(`s${process.pid % 100000}`), ipFamily: "dual" as const };
const stateDir = path.join(work, "state");
let frozen: number | undefined;

after(async () => {
  if (!root) return;
  if (frozen !== undefined) process.kill(frozen, "SIGCONT");
  await down(stateDir, plan);
  rmSync(work, { recursive: true, force: true });
});

const SERVER = peerEchoServer("settled-payload-");
const APP = clientServerYaml("settled");

/** Freezes the control plane once every ztunnel answers ready; resolves with the thaw time. */
async function freezeWhenZtunnelsReady(thawAfterMs: number): Promise<{ frozeAt: number; thawedAt: number }> {
  const planned = makePlan(plan);
  if (!planned.ok) throw planned.error;
  const deadline = Date.now() + 60_000;
  for (;;) {
    const ready = await Promise.all(
      planned.value.nodes.map(async (n) => (await httpGetIn(n.netns, `http://${n.underlayIp}:15021/healthz/ready`, 1)).ok),
    );
    const cp = (await readPids(stateDir)).get("controlplane");
    if (ready.every(Boolean) && cp) {
      process.kill(cp.pid, "SIGSTOP");
      frozen = cp.pid;
      break;
    }
    if (Date.now() > deadline) throw new Error("the ztunnels never answered ready");
    await new Promise((r) => setTimeout(r, 50));
  }
  const frozeAt = Date.now();
  await new Promise((r) => setTimeout(r, thawAfterMs));
  process.kill(frozen, "SIGCONT");
  frozen = undefined;
  return { frozeAt, thawedAt: Date.now() };
}

test(
  "e2e local up: returns only once every ztunnel knows every pod; the first call is HBONE, never passthrough",
  { timeout: 180_000 },
  async (t) => {
    if (!root) {
      console.warn("!! SKIPPED e2e local up settled: needs root (network namespaces, nftables)");
      t.skip("needs root: network namespaces, nftables");
      return;
    }
    const appDir = path.join(work, "app");
    mkdirSync(appDir, { recursive: true });
    writeFileSync(path.join(appDir, "server.js"), SERVER);
    const freeze = freezeWhenZtunnelsReady(3_000);
    const r = await up({
      dir: stateDir,
      plan,
      backend: "nftables",
      files: [{ path: path.join(appDir, "settled.yaml"), text: APP }],
      readyTimeoutMs: 60_000,
    });
    const upAt = Date.now();
    const { frozeAt, thawedAt } = await freeze;
    assert.ok(r.ok, !r.ok ? r.error.message : "");
    if (!r.ok) return;
    assert.ok(
      upAt >= thawedAt,
      `up returned ${thawedAt - upAt} ms before the control plane was thawed (frozen ${frozeAt}..${thawedAt}): the ztunnels could not know the pods yet`,
    );
    const c: Cluster = { dir: stateDir, plan, state: r.value };
    const server = r.value.pods.find((p) => p.name === "server")!;
    const v6 = (server.ips ?? []).find((ip) => ip.includes(":"));
    assert.ok(v6, `the server has an IPv6 address: ${JSON.stringify(server.ips)}`);
    const file = path.join(work, "underlay.pcap");
    let first6 = { ok: false, text: "", code: -1 };
    let first4 = { ok: false, text: "", code: -1 };
    const pcap = await captureUnderlay(c, file, async () => {
      // No warm-up and no retry: the first call after up is the one that was passthrough.
      first6 = await call(c, "settled", `http://[${v6}]:8080/`, "first-call-v6");
      first4 = await call(c, "settled", `http://${server.ip}:8080/`, "first-call-v4");
    });
    assert.ok(first6.ok && first6.text.includes("first-call-v6"), `the first IPv6 call is served: ${first6.code} ${first6.text}`);
    assert.ok(first4.ok && first4.text.includes("first-call-v4"), `the first IPv4 call is served: ${first4.code} ${first4.text}`);
    assert.ok(!pcap.includes("first-call-") && !pcap.includes("settled-payload"), "no payload in clear on the underlay");
    for (const ip of [v6, server.ip]) {
      const filter = `tcp and host ${ip} and port 8080`;
      const n = await packets(file, filter);
      assert.equal(
        n,
        0,
        n === 0 ? "" : `nothing to ${ip}'s app port on the underlay: ${n} packets\n${await describePackets(file, filter)}`,
      );
    }
    assert.ok((await packets(file, `tcp and host ${v6} and port 15008`)) > 0, "the IPv6 call crossed as HBONE");
  },
);
