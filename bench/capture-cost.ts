/**
 * The cost of transparent capture: pod-to-pod connection latency and single-connection
 * throughput in the capture test topology (test/capture/topology.ts), for
 *   direct         no capture, kernel forwarding between two pod namespaces;
 *   relay          an explicit userspace relay in the node (the ztunnel stand-in's copy loop),
 *                  no capture: the baseline the capture modes add to;
 *   ebpf/nftables  the source pod enrolled, its connections captured to the stand-in's 15001
 *                  listener and relayed over a transparent marked socket.
 * Run as root: `node dist/bench/capture-cost.js` (BENCH_CAPTURE_CONNS, BENCH_CAPTURE_MB). Bounded:
 * a few hundred connections and a few hundred MB per mode, about 20 s in all.
 */
import { rmSync } from "node:fs";
import { createRedirectBackend } from "../src/capture/index.js";
import type { RedirectBackend } from "../src/capture/backend.js";
import { GATEWAY, Topology } from "../test/capture/topology.js";

const CONNS = Math.min(Number(process.env.BENCH_CAPTURE_CONNS ?? 300), 5000);
const MB = Math.min(Number(process.env.BENCH_CAPTURE_MB ?? 256), 4096);
const PORTS = { outbound: 15001, inboundPlaintext: 15006, hbone: 15008 };

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};

interface Row {
  mode: string;
  p50: number;
  p99: number;
  gbps: number;
}

async function measure(topo: Topology, mode: string, host: string, port: number, bulkPort: number): Promise<Row> {
  const a = topo.pods.a.agent;
  await a.request("rtt", { host, port, count: Math.min(20, CONNS) }); // warm-up
  const ms = await a.request<number[]>("rtt", { host, port, count: CONNS });
  const bulkMs = await a.request<number>("bulk", { host, port: bulkPort, bytes: MB * 1024 * 1024 });
  return { mode, p50: pct(ms, 50), p99: pct(ms, 99), gbps: (MB * 8 * 1024 * 1024) / (bulkMs / 1000) / 1e9 };
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) {
    console.error("capture bench: needs root (network namespaces, tc, nft)");
    process.exit(2);
  }
  const topo = await Topology.create();
  const rows: Row[] = [];
  let backend: RedirectBackend | undefined;
  const pinRoot = `/sys/fs/bpf/wefttest-cap-${topo.id}`;
  try {
    const { b } = topo.pods;
    await b.agent.request("listen", { port: 80 });
    await b.agent.request("sink", { port: 81 });
    await topo.nodeAgent.request("ztunnel", { ports: Object.values(PORTS), hbone: PORTS.hbone, mark: 0x539 });
    await topo.nodeAgent.request("proxy", { port: 15090, host: b.ip, targetPort: 80 });
    await topo.nodeAgent.request("proxy", { port: 15091, host: b.ip, targetPort: 81 });
    rows.push(await measure(topo, "direct", b.ip, 80, 81));
    rows.push(await measure(topo, "relay (no capture)", GATEWAY, 15090, 15091));
    for (const kind of ["ebpf", "nftables"] as const) {
      const made = createRedirectBackend(kind, { netns: topo.node.name, instance: "bench", pinRoot, ports: PORTS });
      if (!made.ok) throw made.error;
      backend = made.value;
      for (const r of [await backend.setup(), await backend.enroll({ ips: [topo.pods.a.ip], hostVeth: topo.pods.a.hostVeth })])
        if (!r.ok) throw r.error;
      rows.push(await measure(topo, `${kind} capture + relay`, b.ip, 80, 81));
      const t = await backend.teardown();
      if (!t.ok) throw t.error;
      backend = undefined;
    }
  } finally {
    if (backend) await backend.teardown();
    rmSync(pinRoot, { recursive: true, force: true });
    await topo.destroy();
  }
  const base = rows[1]!;
  console.log(`capture cost: ${CONNS} sequential connections (connect + greeting), ${MB} MB on one connection`);
  console.log("| mode | connect p50 ms | connect p99 ms | throughput Gbit/s | p50 vs relay |");
  console.log("| --- | --- | --- | --- | --- |");
  for (const r of rows)
    console.log(`| ${r.mode} | ${r.p50.toFixed(3)} | ${r.p99.toFixed(3)} | ${r.gbps.toFixed(2)} | ${(r.p50 / base.p50).toFixed(2)}x |`);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
