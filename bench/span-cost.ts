/**
 * What one connection span would cost ztunnel (issue 11 item 4: "connection spans from ztunnel if
 * cheap"): the CPU this process spends per span, with the waypoint's own export path
 * (src/proxy/otlp-spans.ts ConnectionSpans: a ReadableSpan, OpenTelemetry's BatchSpanProcessor,
 * the OTLP gRPC exporter) to a real OpenTelemetry Collector (scripts/otelcol.sh, debug exporter at basic
 * verbosity) on loopback, for
 *   not sampled  the sampling decision alone (what every other connection pays when tracing is on);
 *   sampled      a span with the access log's fields built, queued, batched, encoded and sent.
 * What a connection costs ztunnel otherwise is docs/benchmarks.md's (new connections/s).
 * Run under the test lock: `flock /tmp/weft-test.lock node dist/bench/span-cost.js`
 * (BENCH_SPANS, default 20000). Bounded: one collector, a few seconds.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { ConnectionSpans } from "../src/proxy/otlp-spans.js";

const N = Math.min(Number(process.env.BENCH_SPANS ?? 20_000), 200_000);
const REPO = path.resolve(__dirname, "../..");

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", () => r()));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

const cpuUs = (): number => {
  const u = process.cpuUsage();
  return u.user + u.system;
};

/** A connection's access log fields (src/proxy/access-log.ts), what ztunnel's span carries. */
const fields = (i: number): Record<string, string | number> => ({
  "src.addr": "10.0.0.5:40312",
  "src.workload": "client",
  "src.namespace": "demo",
  "src.identity": "spiffe://cluster.local/ns/demo/sa/client",
  "dst.addr": "10.0.1.7:8080",
  "dst.hbone_addr": "10.0.1.7:8080",
  "dst.service": "server.demo.svc.cluster.local",
  "dst.workload": "server-0",
  "dst.namespace": "demo",
  "dst.identity": "spiffe://cluster.local/ns/demo/sa/server",
  direction: "inbound",
  policy: "allow",
  bytes_sent: 1024 + i,
  bytes_recv: 4096,
  duration: "5ms",
});

async function main(): Promise<void> {
  const bin = execFileSync("bash", [path.join(REPO, "scripts", "otelcol.sh")], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] })
    .trim()
    .split("\n")
    .pop()!;
  const work = mkdtempSync(path.join(tmpdir(), "weft-span-cost-"));
  const port = await freePort();
  const cfg = path.join(work, "otelcol.yaml");
  writeFileSync(
    cfg,
    JSON.stringify({
      receivers: { otlp: { protocols: { grpc: { endpoint: `127.0.0.1:${port}` } } } },
      exporters: { debug: { verbosity: "basic" } },
      // Log sampling off: the debug exporter logs one line per batch, which zap would otherwise thin out.
      service: {
        telemetry: { metrics: { level: "none" }, logs: { sampling: { enabled: false } } },
        pipelines: { traces: { receivers: ["otlp"], exporters: ["debug"] } },
      },
    }),
  );
  let out = "";
  const collector: ChildProcess = spawn(bin, ["--config", `file:${cfg}`], { stdio: ["ignore", "pipe", "pipe"] });
  collector.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  collector.stderr!.on("data", (d: Buffer) => (out += d.toString()));
  try {
    const ready = Date.now() + 20_000;
    while (!out.includes("Everything is ready")) {
      if (Date.now() > ready || collector.exitCode !== null) throw new Error(`collector did not start:\n${out}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const sink = (samplingPercent: number) =>
      new ConnectionSpans({ collector: `127.0.0.1:${port}`, samplingPercent, serviceName: "ztunnel.bench" });
    // Unsampled: what every connection pays when tracing is on (the decision; nothing is built).
    const off = sink(0);
    let t0 = cpuUs();
    for (let i = 0; i < N; i++) off.ended(fields(i), Date.now() - 5, Date.now(), false);
    const unsampledUs = (cpuUs() - t0) / N;
    await off.close();
    // Sampled: every connection; warm-up (the exporter's channel, JIT), then bursts that fit the queue.
    const on = sink(100);
    for (let i = 0; i < 2000; i++) on.ended(fields(i), Date.now() - 5, Date.now(), false);
    await on.flush();
    const wall0 = Date.now();
    t0 = cpuUs();
    for (let done = 0; done < N;) {
      for (let i = 0; i < 2000 && done < N; i++, done++) on.ended(fields(done), Date.now() - 5, Date.now(), false);
      await on.flush();
    }
    const sampledUs = (cpuUs() - t0) / N;
    const wallMs = Date.now() - wall0;
    await on.close();
    const count = () => [...out.matchAll(/"spans": (\d+)/g)].reduce((n, m) => n + Number(m[1]), 0);
    for (const deadline = Date.now() + 5000; count() < N + 2000 && Date.now() < deadline;) await new Promise((r) => setTimeout(r, 100));
    const received = count();
    console.log(
      out
        .split("\n")
        .filter((l) => l.includes("spans"))
        .slice(0, 5)
        .join("\n"),
      out.split("\n").filter((l) => l.includes("spans")).length,
    );
    console.log(`connection span cost (${N} spans, OTLP gRPC to a real collector on loopback; this process's CPU)`);
    console.log("| case | CPU us per connection |");
    console.log("| --- | ---: |");
    console.log(`| tracing off (no code path) | 0 |`);
    console.log(`| on, not sampled (the decision, nothing built) | ${unsampledUs.toFixed(3)} |`);
    console.log(`| sampled (build, queue, batch, encode, send) | ${sampledUs.toFixed(1)} |`);
    console.log(`| at 1 % sampling (0.99 x unsampled + 0.01 x sampled) | ${(0.99 * unsampledUs + 0.01 * sampledUs).toFixed(2)} |`);
    console.log(
      `sampled wall time ${wallMs} ms (${Math.round((N / wallMs) * 1000)} spans/s); the collector counted ${received} of ${N + 2000} spans`,
    );
  } finally {
    collector.kill("SIGTERM");
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
