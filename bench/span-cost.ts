/**
 * What one connection span would cost ztunnel (issue 11 item 4: "connection spans from ztunnel if
 * cheap"): the CPU this process spends per span, with the waypoint's own export path
 * (src/waypoint/telemetry/tracer.ts: a ReadableSpan, OpenTelemetry's BatchSpanProcessor, the OTLP
 * gRPC exporter) to a real OpenTelemetry Collector (scripts/otelcol.sh, debug exporter at basic
 * verbosity) on loopback, for
 *   unsampled   the sampling decision alone (what every connection pays when tracing is on at 1 %);
 *   sampled     a span with ztunnel-like attributes built, queued, batched, encoded and sent;
 * against what a connection costs ztunnel today (measured the same way: connect, one byte each
 * way, close, through a real ztunnel pair is bench/load's job; here the figure is taken from
 * docs/benchmarks.md and printed beside).
 * Run under the test lock: `flock /tmp/weft-test.lock node dist/bench/span-cost.js`
 * (BENCH_SPANS, default 20000). Bounded: one collector, a few seconds.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { randomBytes } from "node:crypto";
import { BatchSpanProcessor } from "@opentelemetry/sdk-trace-base";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-grpc";
import { readableSpan } from "../src/waypoint/telemetry/tracer.js";

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

/** ztunnel-like attributes of a connection span (Istio's names where they exist). */
function connectionSpan(i: number) {
  const start = Date.now() - 5;
  return {
    traceId: randomBytes(16).toString("hex"),
    spanId: randomBytes(8).toString("hex"),
    name: "inbound 10.0.1.7:8080",
    startMs: start,
    endMs: start + 5,
    error: false,
    attributes: {
      "net.peer.ip": "10.0.0.5",
      "net.host.ip": "10.0.1.7",
      "net.host.port": 8080,
      "istio.source_principal": "spiffe://cluster.local/ns/demo/sa/client",
      "istio.destination_principal": "spiffe://cluster.local/ns/demo/sa/server",
      "istio.source_workload": "client",
      "istio.destination_workload": "server",
      "istio.destination_service": "server.demo.svc.cluster.local",
      "istio.namespace": "demo",
      "istio.connection_security_policy": "mutual_tls",
      "istio.bytes_sent": 1024 + i,
      "istio.bytes_received": 4096,
      "istio.policy": "allow",
    },
  };
}

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
      service: { telemetry: { metrics: { level: "none" } }, pipelines: { traces: { receivers: ["otlp"], exporters: ["debug"] } } },
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
    // Unsampled: the decision alone.
    let kept = 0;
    let t0 = cpuUs();
    for (let i = 0; i < N; i++) if (Math.random() * 100 < 1) kept++;
    const unsampledUs = (cpuUs() - t0) / N;

    const p = new BatchSpanProcessor(new OTLPTraceExporter({ url: `http://127.0.0.1:${port}` }), {
      scheduledDelayMillis: 1000,
      maxQueueSize: 2048,
      maxExportBatchSize: 512,
    });
    // Warm-up (the exporter's channel, JIT), then the measured run in bursts that fit the queue.
    for (let i = 0; i < 2000; i++) p.onEnd(readableSpan(connectionSpan(i), "ztunnel"));
    await p.forceFlush();
    const wall0 = Date.now();
    t0 = cpuUs();
    for (let done = 0; done < N;) {
      for (let i = 0; i < 2000 && done < N; i++, done++) p.onEnd(readableSpan(connectionSpan(done), "ztunnel"));
      await p.forceFlush();
    }
    const sampledUs = (cpuUs() - t0) / N;
    const wallMs = Date.now() - wall0;
    await p.shutdown();
    const received = [...out.matchAll(/"spans": (\d+)|spans: (\d+)|resource spans: \d+, spans: (\d+)/g)].reduce(
      (n, m) => n + Number(m[1] ?? m[2] ?? m[3] ?? 0),
      0,
    );
    console.log(`connection span cost (${N} spans, OTLP gRPC to a real collector on loopback; this process's CPU)`);
    console.log("| case | CPU us per connection |");
    console.log("| --- | ---: |");
    console.log(`| tracing off (no code path) | 0 |`);
    console.log(`| unsampled (the 1 % decision alone) | ${unsampledUs.toFixed(3)} |`);
    console.log(`| sampled (build, queue, batch, encode, send) | ${sampledUs.toFixed(1)} |`);
    console.log(`| at 1 % sampling (0.99 x unsampled + 0.01 x sampled) | ${(0.99 * unsampledUs + 0.01 * sampledUs).toFixed(2)} |`);
    console.log(
      `sampled wall time ${wallMs} ms (${Math.round((N / wallMs) * 1000)} spans/s); the collector counted ${received} spans; decisions kept ${kept}`,
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
