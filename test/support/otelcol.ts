/**
 * A real OpenTelemetry Collector for the tracing tests (built once by scripts/otelcol.sh from the
 * Go module proxy): OTLP receivers on the given loopback addresses, the debug exporter at
 * `detailed` verbosity, and the spans read back from that output. Not a mock: the collector
 * decodes what weft's exporters sent, so a malformed export fails the test.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import * as path from "node:path";

const REPO = path.join(__dirname, "..", "..", "..");

export interface CollectedSpan {
  readonly service: string;
  readonly traceId: string;
  readonly parentId: string;
  readonly id: string;
  readonly name: string;
  readonly kind: string;
  readonly status: string;
  readonly attributes: Record<string, string>;
}

export class Collector {
  private out = "";

  private constructor(private readonly proc: ChildProcess) {
    proc.stdout!.on("data", (d: Buffer) => (this.out += d.toString()));
    proc.stderr!.on("data", (d: Buffer) => (this.out += d.toString()));
  }

  /** Starts a collector with OTLP/gRPC and/or OTLP/HTTP receivers (`ip:port`); its config goes in `workDir`. */
  static async start(workDir: string, receivers: { grpc?: string; http?: string }): Promise<Collector> {
    const bin = execFileSync("bash", [path.join(REPO, "scripts", "otelcol.sh")], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] })
      .trim()
      .split("\n")
      .pop()!;
    const protocols: Record<string, { endpoint: string }> = {};
    if (receivers.grpc) protocols.grpc = { endpoint: receivers.grpc };
    if (receivers.http) protocols.http = { endpoint: receivers.http };
    const cfg = path.join(workDir, "otelcol.json");
    writeFileSync(
      cfg,
      JSON.stringify({
        receivers: { otlp: { protocols } },
        exporters: { debug: { verbosity: "detailed" } },
        service: { telemetry: { metrics: { level: "none" } }, pipelines: { traces: { receivers: ["otlp"], exporters: ["debug"] } } },
      }),
    );
    const c = new Collector(spawn(bin, ["--config", `file:${cfg}`], { stdio: ["ignore", "pipe", "pipe"] }));
    const deadline = Date.now() + 20_000;
    while (!c.out.includes("Everything is ready")) {
      if (Date.now() > deadline || c.proc.exitCode !== null) throw new Error(`collector did not start:\n${c.out}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    return c;
  }

  /** Every span in the output so far (one `Span #N` block each, after its resource). */
  spans(): CollectedSpan[] {
    const spans: CollectedSpan[] = [];
    for (const batch of this.out.split(/ResourceSpans #\d+/).slice(1)) {
      const service = /service\.name: Str\(([^)]*)\)/.exec(batch)?.[1] ?? "";
      for (const block of batch.split(/Span #\d+/).slice(1)) {
        const field = (n: string) => new RegExp(`${n}[ \\t]*:[ \\t]*(\\S*)`).exec(block)?.[1] ?? "";
        const attributes: Record<string, string> = {};
        for (const m of block.matchAll(/-> ([\w.:-]+): \w+\(([^)]*)\)/g)) attributes[m[1]!] = m[2]!;
        spans.push({
          service,
          traceId: field("Trace ID"),
          parentId: field("Parent ID"),
          id: field("\\n[ \\t]*ID"),
          name: /\n\s*Name\s*:\s*(.*)/.exec(block)?.[1]?.trim() ?? "",
          kind: field("Kind"),
          status: field("Status code"),
          attributes,
        });
      }
    }
    return spans;
  }

  /** The first span `f` accepts, waiting up to 15 s; the error quotes the collector's output. */
  async spanWith(f: (s: CollectedSpan) => boolean, what: string): Promise<CollectedSpan> {
    const deadline = Date.now() + 15_000;
    for (;;) {
      const s = this.spans().find(f);
      if (s) return s;
      if (Date.now() > deadline) throw new Error(`no span ${what} in the collector's output:\n${this.out.slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  stop(): void {
    this.proc.kill("SIGKILL");
  }
}
