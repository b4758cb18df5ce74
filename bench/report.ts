/**
 * From measurements to the comparison table: pure functions, no IO. Each row is one metric;
 * the columns are the baselines (each with its ratio against direct TCP) and, per ztunnel pair
 * measured (`ztunnel-native`: the default engine; `ztunnel`: the Node engine), its figure, its
 * ratio to stunnel and the target the project set for ztunnel (issue 14) with whether this run
 * met it. Missing figures (a peer that failed to start, a phase that errored) show as "-" and
 * never count as a met target.
 */
import type { ConnectRateResult } from "./load/connect-rate.js";
import type { LatencyResult } from "./load/latency.js";
import type { ThroughputResult } from "./load/throughput.js";
import type { MemorySplitKb } from "./proc.js";

export interface ProxyMemory {
  readonly role: string;
  readonly idleKb: number | null;
  /** The idle RSS split into anonymous and file-backed pages, and the idle PSS (proc.ts). */
  readonly idleSplit?: MemorySplitKb | null;
  /** RSS while `MemoryResult.opened` connections were held. */
  readonly loadedKb: number | null;
}

export interface MemoryResult {
  readonly proxies: readonly ProxyMemory[];
  readonly requested: number;
  readonly opened: number;
  readonly failed: number;
  readonly firstError: string | null;
  readonly openSeconds: number;
}

export interface PeerResult {
  readonly peer: string;
  readonly description: string;
  throughput: ThroughputResult | null;
  latency: LatencyResult | null;
  connectRate: ConnectRateResult | null;
  memory: MemoryResult | null;
  /** Facts about the path established during the run (e.g. proxy metrics), for the report. */
  readonly notes: string[];
  /** "phase: message" for every phase that failed, and a start failure. */
  readonly errors: string[];
}

export interface Table {
  readonly headers: readonly string[];
  readonly rows: readonly (readonly string[])[];
}

type Num = number | null;

interface Metric {
  readonly name: string;
  readonly value: (r: PeerResult) => Num;
  readonly format: (v: number) => string;
  /** Target for ztunnel, given ztunnel's and the baselines' values; null when none. */
  readonly target?: (z: Num, s: Num, d: Num) => { text: string; met: boolean | null };
}

const KB_PER_MB = 1024;

/** Per-connection KiB of one proxy: (RSS with N open - RSS idle) / N. */
export function perConnectionKb(p: ProxyMemory, opened: number): Num {
  if (p.idleKb === null || p.loadedKb === null || opened <= 0) return null;
  return (p.loadedKb - p.idleKb) / opened;
}

const maxOf = (xs: readonly Num[]): Num => (xs.length === 0 || xs.some((x) => x === null) ? null : Math.max(...(xs as number[])));
const sumOf = (xs: readonly Num[]): Num =>
  xs.length === 0 || xs.some((x) => x === null) ? null : (xs as number[]).reduce((a, b) => a + b, 0);

function verdict(met: boolean | null, text: string): { text: string; met: boolean | null } {
  return { text: `${text}: ${met === null ? "n/a" : met ? "met" : "MISSED"}`, met };
}

export function metrics(directP99: Num, directP50: Num): readonly Metric[] {
  const added = (r: PeerResult): Num => (r.latency && directP99 !== null ? r.latency.fromSend.p99Us - directP99 : null);
  const addedP50 = (r: PeerResult): Num => (r.latency && directP50 !== null ? r.latency.fromSend.p50Us - directP50 : null);
  const mem = (r: PeerResult): readonly ProxyMemory[] | null => (r.memory && r.memory.proxies.length ? r.memory.proxies : null);
  return [
    {
      name: "throughput, 1 conn (Gbit/s)",
      value: (r) => (r.throughput ? r.throughput.bitsPerSecond / 1e9 : null),
      format: (v) => v.toFixed(2),
      target: (z, s) => verdict(z === null || s === null ? null : z >= 1.1 * s, ">= 1.1x stunnel"),
    },
    { name: "latency p50 (us)", value: (r) => r.latency?.fromSend.p50Us ?? null, format: (v) => v.toFixed(0) },
    { name: "latency p99 (us)", value: (r) => r.latency?.fromSend.p99Us ?? null, format: (v) => v.toFixed(0) },
    {
      name: "added p50 vs direct (us)",
      value: addedP50,
      format: (v) => v.toFixed(0),
      target: (z, s) => verdict(z === null || s === null ? null : z <= s, "<= stunnel's"),
    },
    {
      name: "added p99 vs direct (us)",
      value: added,
      format: (v) => v.toFixed(0),
      target: (z, s) => verdict(z === null || s === null ? null : z <= s, "<= stunnel's"),
    },
    { name: "latency p99.9 (us)", value: (r) => r.latency?.fromSend.p999Us ?? null, format: (v) => v.toFixed(0) },
    { name: "p99 from schedule (us)", value: (r) => r.latency?.fromSchedule.p99Us ?? null, format: (v) => v.toFixed(0) },
    {
      name: "new connections/s",
      value: (r) => r.connectRate?.perSecond ?? null,
      format: (v) => v.toFixed(0),
      target: (z, s) => verdict(z === null || s === null ? null : z >= 5 * s, ">= 5x stunnel"),
    },
    {
      name: "idle RSS, largest proxy (MB)",
      value: (r) => {
        const m = mem(r);
        return m ? maxOf(m.map((p) => p.idleKb)) : null;
      },
      format: (v) => (v / KB_PER_MB).toFixed(1),
      target: (z) => verdict(z === null ? null : z < 40 * KB_PER_MB, "< 40 MB"),
    },
    {
      name: "RSS with open conns, sum (MB)",
      value: (r) => {
        const m = mem(r);
        return m ? sumOf(m.map((p) => p.loadedKb)) : null;
      },
      format: (v) => (v / KB_PER_MB).toFixed(1),
    },
    {
      name: "KB per open conn, largest proxy",
      value: (r) => {
        const m = mem(r);
        return m && r.memory ? maxOf(m.map((p) => perConnectionKb(p, r.memory!.opened))) : null;
      },
      format: (v) => v.toFixed(1),
      target: (z) => verdict(z === null ? null : z <= 6, "<= 6 KB"),
    },
    {
      name: "KB per open conn, both proxies",
      value: (r) => {
        const m = mem(r);
        return m && r.memory ? sumOf(m.map((p) => perConnectionKb(p, r.memory!.opened))) : null;
      },
      format: (v) => v.toFixed(1),
    },
  ];
}

const ratio = (a: Num, b: Num): string => (a === null || b === null || b === 0 ? "-" : `${(a / b).toFixed(2)}x`);

/** The ztunnel pairs a table can show, in column order: the default (native) engine first. */
export const ZTUNNEL_PEERS = ["ztunnel-native", "ztunnel"] as const;

/** The comparison table; `results` in any order, looked up by peer name. */
export function buildTable(results: readonly PeerResult[]): Table {
  const by = (name: string): PeerResult | undefined => results.find((r) => r.peer === name);
  const d = by("direct");
  const s = by("stunnel");
  const zs = ZTUNNEL_PEERS.map((name) => ({ name, r: by(name) })).filter((z) => z.r !== undefined);
  const rows: string[][] = [];
  for (const m of metrics(d?.latency?.fromSend.p99Us ?? null, d?.latency?.fromSend.p50Us ?? null)) {
    const v = (r: PeerResult | undefined): Num => (r ? m.value(r) : null);
    const dv = v(d);
    const sv = v(s);
    const cell = (x: Num, withRatio: boolean): string =>
      x === null ? "-" : withRatio && dv !== null && dv !== 0 ? `${m.format(x)} (${ratio(x, dv)})` : m.format(x);
    const row = [m.name, cell(dv, false), cell(sv, true)];
    for (const z of zs) {
      const zv = v(z.r);
      row.push(cell(zv, true), ratio(zv, sv), m.target ? m.target(zv, sv, dv).text : "");
    }
    rows.push(row);
  }
  const headers = ["metric", "direct", "stunnel (x direct)"];
  for (const z of zs) headers.push(`${z.name} (x direct)`, `${z.name}/stunnel`, `${z.name} target`);
  return { headers, rows };
}

/** Fixed-width text rendering for the terminal. */
export function renderText(t: Table): string {
  const widths = t.headers.map((h, i) => Math.max(h.length, ...t.rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)))
      .join("  ")
      .trimEnd();
  return [line(t.headers), widths.map((w) => "-".repeat(w)).join("  "), ...t.rows.map(line)].join("\n");
}

/** GitHub-flavoured Markdown rendering. */
export function renderMarkdown(t: Table): string {
  const esc = (c: string): string => c.replace(/\|/g, "\\|");
  return [
    `| ${t.headers.map(esc).join(" | ")} |`,
    `| ${t.headers.map((_, i) => (i === 0 ? "---" : "---:")).join(" | ")} |`,
    ...t.rows.map((r) => `| ${r.map(esc).join(" | ")} |`),
  ].join("\n");
}

/** Client timer lag (p99, us) above which latency tails say more about the machine than the path. */
export const NOISY_LAG_US = 1000;

/**
 * Warnings about this run's figures that a reader must see next to them: a load generator that
 * could not keep its own schedule (a busy machine) makes p99 and p99.9 mostly scheduling noise.
 */
export function runCaveats(results: readonly PeerResult[]): string[] {
  const out: string[] = [];
  const lagged = results.filter((r) => r.latency && r.latency.lagP99Us > NOISY_LAG_US);
  if (lagged.length > 0) {
    const list = lagged.map((r) => `${r.peer} ${(r.latency!.lagP99Us / 1000).toFixed(1)} ms`).join(", ");
    out.push(
      `the load generator itself ran late (timer lag p99: ${list}): the machine was busy, so the latency tails (p99, p99.9) are dominated by CPU scheduling and only roughly comparable; p50 and the other figures are more reliable`,
    );
  }
  return out;
}
