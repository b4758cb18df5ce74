/**
 * The bench's settings: the only reader of BENCH_* environment variables. Each setting has its
 * default beside its name; values are validated once (a bad value names the variable) and the
 * result is frozen.
 */
import { err, ok, type Result } from "../src/common/result.js";

export const PEER_NAMES = ["direct", "stunnel", "ztunnel", "ztunnel-native"] as const;
/**
 * Measured when BENCH_PEERS is not set: both ztunnel pairs, `ztunnel-native` (the ztunnel's
 * default engine) and `ztunnel` (`--hbone-engine node`).
 */
export const DEFAULT_PEERS = ["direct", "stunnel", "ztunnel-native", "ztunnel"] as const;
export type PeerName = (typeof PEER_NAMES)[number];

export interface BenchConfig {
  /** BENCH_SECONDS (5): measured length of each timed phase (throughput, latency, connection
   * rate) per peer, summed over its rounds. */
  readonly seconds: number;
  /** BENCH_ROUNDS (3): each timed phase is split into this many rounds that alternate the peers. */
  readonly rounds: number;
  /** BENCH_PEERS (direct,stunnel,ztunnel-native,ztunnel): which paths to measure, in this order. */
  readonly peers: readonly PeerName[];
  /** BENCH_RPS (1000): request rate of the latency phase. */
  readonly rps: number;
  /** BENCH_LATENCY_CONNS (4): connections the latency phase spreads its requests over. */
  readonly latencyConnections: number;
  /** BENCH_MESSAGE_BYTES (1024): request and response size of the latency phase. */
  readonly messageBytes: number;
  /** BENCH_WARMUP_SECONDS (1): unrecorded lead-in of the latency phase. */
  readonly warmupSeconds: number;
  /** BENCH_CONNECT_WORKERS (16): concurrent connect/close loops of the connection-rate phase. */
  readonly connectWorkers: number;
  /** BENCH_OPEN_CONNS (10000): connections held open for the memory phase. */
  readonly openConnections: number;
  /** BENCH_OPEN_RATE (2000): at most this many new connections per second in the memory phase. */
  readonly openRate: number;
  /** BENCH_SETTLE_SECONDS (2): pause before each memory sample, for the proxies to settle. */
  readonly settleSeconds: number;
  /** BENCH_OUT (docs/benchmarks.md): where the report is written; "-" writes none. */
  readonly out: string;
}

export function loadConfig(env: NodeJS.ProcessEnv): Result<BenchConfig> {
  const errors: string[] = [];
  const num = (name: string, def: number, min: number, max: number, integer = true): number => {
    const raw = env[name];
    if (raw === undefined || raw === "") return def;
    const v = Number(raw);
    if (!Number.isFinite(v) || (integer && !Number.isInteger(v)) || v < min || v > max) {
      errors.push(`${name}=${JSON.stringify(raw)}: expected ${integer ? "an integer" : "a number"} in [${min}, ${max}]`);
      return def;
    }
    return v;
  };
  const peersRaw = env.BENCH_PEERS ?? DEFAULT_PEERS.join(",");
  const peers: PeerName[] = [];
  for (const p of peersRaw
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "")) {
    if ((PEER_NAMES as readonly string[]).includes(p)) {
      if (!peers.includes(p as PeerName)) peers.push(p as PeerName);
    } else errors.push(`BENCH_PEERS: unknown peer ${JSON.stringify(p)} (known: ${PEER_NAMES.join(", ")})`);
  }
  if (peers.length === 0 && errors.length === 0) errors.push("BENCH_PEERS: no peer selected");
  const cfg: BenchConfig = {
    seconds: num("BENCH_SECONDS", 5, 1, 600, false),
    peers,
    rounds: num("BENCH_ROUNDS", 3, 1, 100),
    rps: num("BENCH_RPS", 1000, 1, 100_000),
    latencyConnections: num("BENCH_LATENCY_CONNS", 4, 1, 1000),
    messageBytes: num("BENCH_MESSAGE_BYTES", 1024, 1, 1 << 20),
    warmupSeconds: num("BENCH_WARMUP_SECONDS", 1, 0, 60, false),
    connectWorkers: num("BENCH_CONNECT_WORKERS", 16, 1, 1000),
    openConnections: num("BENCH_OPEN_CONNS", 10_000, 0, 100_000),
    openRate: num("BENCH_OPEN_RATE", 2000, 1, 100_000),
    settleSeconds: num("BENCH_SETTLE_SECONDS", 2, 0, 60, false),
    out: env.BENCH_OUT ?? "docs/benchmarks.md",
  };
  if (errors.length) return err(new Error(`bench config: ${errors.join("; ")}`));
  return ok(Object.freeze(cfg));
}
