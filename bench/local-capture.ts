/**
 * Issue "transparent capture", benchmark: pod to pod across nodes on the real local cluster
 * (`weft local`, test addresses), the same app measured without the mesh and then enrolled, for
 * each redirection backend. Latency: sequential HTTP request/response (1 KB) from the client
 * pod to the remote pod; throughput: one 64 MB upload on one connection. Ratios are against
 * the same cluster before enrollment. Root only; bounded (a few hundred requests per mode).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { labelNamespace } from "../src/local/cluster.js";
import { down, enrolled, planFor, podIp, podNetns, sh, startCluster, until, type Cluster } from "../test/e2e/harness.js";

const REQUESTS = 300;
const MB = 64;

const CLIENT = `"use strict";
const http = require("node:http");
const [host, n, mb] = [process.argv[1], Number(process.argv[2]), Number(process.argv[3])];
const agent = new http.Agent({ keepAlive: false });
const req = (body) => new Promise((res, rej) => {
  const r = http.request({ host, port: 8080, method: "POST", agent }, (resp) => { resp.resume(); resp.on("end", res); });
  r.on("error", rej); r.end(body);
});
(async () => {
  const kb = Buffer.alloc(1024, 97);
  for (let i = 0; i < 20; i++) await req(kb);
  const lat = [];
  for (let i = 0; i < n; i++) { const t = process.hrtime.bigint(); await req(kb); lat.push(Number(process.hrtime.bigint() - t) / 1e6); }
  lat.sort((a, b) => a - b);
  const big = Buffer.alloc(mb * 1024 * 1024, 98);
  const t0 = process.hrtime.bigint(); await req(big); const s = Number(process.hrtime.bigint() - t0) / 1e9;
  console.log(JSON.stringify({ p50: lat[Math.floor(n * 0.5)], p99: lat[Math.floor(n * 0.99)], gbps: (mb * 8 * 1.048576) / 1000 / s }));
})().catch((e) => { console.error(e.message); process.exit(1); });
`;

interface Row {
  backend: string;
  mode: string;
  p50: number;
  p99: number;
  gbps: number;
}

async function measure(c: Cluster, backend: string, mode: string): Promise<Row> {
  const r = await sh(
    "ip",
    ["netns", "exec", podNetns(c, "mesh", "client"), "node", "-e", CLIENT, podIp(c, "mesh", "remote"), String(REQUESTS), String(MB)],
    120_000,
  );
  if (r.code !== 0) throw new Error(`${backend} ${mode}: ${r.stderr.trim()}`);
  return { backend, mode, ...(JSON.parse(r.stdout) as { p50: number; p99: number; gbps: number }) };
}

async function main(): Promise<number> {
  if (process.getuid?.() !== 0) {
    console.error("!! SKIPPING the local-cluster capture benchmark: it needs root");
    return 0;
  }
  const rows: Row[] = [];
  for (const backend of ["ebpf", "nftables"] as const) {
    const work = mkdtempSync(path.join(tmpdir(), "weft-bench-local-"));
    const cluster = `b${process.pid % 10000}${backend[0]}`;
    try {
      const c = await startCluster(work, cluster, backend);
      rows.push(await measure(c, backend, "no mesh"));
      const l = await labelNamespace(c.dir, "mesh", ["istio.io/dataplane-mode=ambient"]);
      if (!l.ok) throw l.error;
      await until(
        "mesh pods enrolled",
        async () => ([...(await enrolled(c))].filter(([k, v]) => k.startsWith("mesh/") && v).length === 3 ? true : undefined),
        30_000,
      );
      await until(
        "mesh calls work",
        async () =>
          (
            await sh("ip", [
              "netns",
              "exec",
              podNetns(c, "mesh", "client"),
              "curl",
              "-sS",
              "--max-time",
              "2",
              `http://${podIp(c, "mesh", "remote")}:8080/`,
            ])
          ).code === 0
            ? true
            : undefined,
        20_000,
      );
      rows.push(await measure(c, backend, "mesh (capture + 2 ztunnels, HBONE)"));
    } finally {
      await down(path.join(work, "state"), planFor(cluster));
      rmSync(work, { recursive: true, force: true });
    }
  }
  console.log(`pod to pod across nodes on the local cluster: ${REQUESTS} sequential 1 KB requests, one ${MB} MB upload`);
  console.log(
    "| backend | mode | p50 ms | p99 ms | Gbit/s | p50 vs no mesh | throughput vs no mesh |\n| --- | --- | ---: | ---: | ---: | ---: | ---: |",
  );
  for (const r of rows) {
    const base = rows.find((b) => b.backend === r.backend && b.mode === "no mesh")!;
    console.log(
      `| ${r.backend} | ${r.mode} | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} | ${r.gbps.toFixed(2)} | ${(r.p50 / base.p50).toFixed(2)}x | ${(r.gbps / base.gbps).toFixed(2)}x |`,
    );
  }
  return 0;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(`local-capture: ${(e as Error).stack ?? String(e)}`);
    process.exit(1);
  },
);
