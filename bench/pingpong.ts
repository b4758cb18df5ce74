/**
 * `node dist/bench/pingpong.js`: the per-round-trip latency of each path at concurrency 1, as
 * ratios against stunnel's in the same run (docs/hbone.md "Round-trip latency"). The bench's
 * latency phase (load/latency.ts) is open loop at 1000 req/s over 4 connections, so its
 * percentiles mix the path's own cost with queueing behind other requests and the load
 * generator's timer lag; this one keeps one request in flight, with many samples:
 *
 *   - round trip: PINGPONG_TRIPS (20000) echoes of PINGPONG_BYTES (64) over one connection;
 *   - new connection: PINGPONG_CONNECTS (2000) connections one after the other, each timed
 *     from connect to its first byte's echo (for stunnel a TLS handshake each, for a ztunnel
 *     pair a new CONNECT stream on its pooled HBONE connection).
 *
 * Both are split into PINGPONG_ROUNDS (4) rounds that visit the peers in turn (load on the
 * shared machine falls on every peer alike), waiting before each for the proxies to be quiet.
 * Peers: PINGPONG_PEERS (direct,stunnel,ztunnel-native; any of direct, stunnel, ztunnel,
 * ztunnel-native). PINGPONG_BASE=<another weft checkout, built> adds "ztunnel-native-base":
 * the native pair started from that tree, for before/after pairs in one run.
 * Also printed: each proxy's CPU time per round trip (less disturbed by other load on the
 * machine than the latencies), and the load average at the start and the end.
 */
import { loadavg } from "node:os";
import { join } from "node:path";
import { err, ok, type Result } from "../src/common/result.js";
import { connects, roundTrips } from "./load/round-trip.js";
import { directPeer } from "./peers/direct.js";
import type { Peer, RunningPeer } from "./peers/peer.js";
import { stunnelPeer } from "./peers/stunnel.js";
import { ztunnelNativePeer, ztunnelPairPeer, ztunnelPeer } from "./peers/ztunnel.js";
import { installCleanupHooks, readCpuMs, stopChild, waitQuiet, type Child } from "./proc.js";
import { startEcho } from "./run.js";
import { summarize, type LatencySummary } from "./stats.js";

interface PingPongConfig {
  readonly peers: readonly Peer[];
  readonly trips: number;
  readonly bytes: number;
  readonly connects: number;
  readonly rounds: number;
}

const KNOWN: Record<string, Peer> = {
  direct: directPeer,
  stunnel: stunnelPeer,
  ztunnel: ztunnelPeer,
  "ztunnel-native": ztunnelNativePeer,
};

/** The only reader of PINGPONG_* variables: defaults beside the names, validated once. */
export function loadPingPongConfig(env: NodeJS.ProcessEnv): Result<PingPongConfig> {
  const errors: string[] = [];
  const int = (name: string, def: number, min: number, max: number): number => {
    const raw = env[name];
    if (raw === undefined || raw === "") return def;
    const v = Number(raw);
    if (!Number.isInteger(v) || v < min || v > max) {
      errors.push(`${name}=${JSON.stringify(raw)}: expected an integer in [${min}, ${max}]`);
      return def;
    }
    return v;
  };
  const peers: Peer[] = [];
  for (const name of (env.PINGPONG_PEERS ?? "direct,stunnel,ztunnel-native").split(",").map((s) => s.trim())) {
    if (name === "") continue;
    const p = KNOWN[name];
    if (p) peers.push(p);
    else errors.push(`PINGPONG_PEERS: unknown peer ${JSON.stringify(name)} (known: ${Object.keys(KNOWN).join(", ")})`);
  }
  if (env.PINGPONG_BASE)
    peers.push(ztunnelPairPeer("ztunnel-native-base", "native", 52, join(env.PINGPONG_BASE, "dist", "src", "cli", "main.js")));
  const cfg = {
    peers,
    trips: int("PINGPONG_TRIPS", 20_000, 1, 10_000_000),
    bytes: int("PINGPONG_BYTES", 64, 1, 1 << 20),
    connects: int("PINGPONG_CONNECTS", 2000, 0, 1_000_000),
    rounds: int("PINGPONG_ROUNDS", 4, 1, 100),
  };
  if (peers.length === 0) errors.push("PINGPONG_PEERS: no peer selected");
  return errors.length ? err(new Error(`pingpong config: ${errors.join("; ")}`)) : ok(Object.freeze(cfg));
}

interface Entry {
  readonly name: string;
  readonly peer: RunningPeer;
  readonly echo: Child;
  readonly trips: number[];
  readonly connects: number[];
  /** CPU time (ms) each proxy of the path used during the recorded round trips. */
  readonly tripCpuMs: number[];
}

function load(): string {
  return loadavg()
    .map((x) => x.toFixed(2))
    .join(" ");
}

function row(name: string, s: LatencySummary, base: LatencySummary | null): string {
  const r = (v: number, b: number | undefined): string => (b ? ` (${(v / b).toFixed(2)}x)` : "");
  return (
    `  ${name.padEnd(20)} n=${String(s.count).padStart(6)}  p50 ${s.p50Us.toFixed(0).padStart(6)} us${r(s.p50Us, base?.p50Us)}` +
    `  p90 ${s.p90Us.toFixed(0).padStart(6)}${r(s.p90Us, base?.p90Us)}  p99 ${s.p99Us.toFixed(0).padStart(6)}${r(s.p99Us, base?.p99Us)}` +
    `  p99.9 ${s.p999Us.toFixed(0).padStart(6)}${r(s.p999Us, base?.p999Us)}  max ${s.maxUs.toFixed(0)}`
  );
}

async function main(): Promise<number> {
  const c = loadPingPongConfig(process.env);
  if (!c.ok) {
    console.error(c.error.message);
    return 2;
  }
  const cfg = c.value;
  installCleanupHooks();
  console.log(`pingpong: load average ${load()} at start`);
  const entries: Entry[] = [];
  let failed = false;
  try {
    for (const p of cfg.peers) {
      const started = await p.start();
      if (!started.ok) {
        console.log(`${p.name}: not measured: ${started.error.message}`);
        failed = true;
        continue;
      }
      const echo = await startEcho(started.value);
      if (!echo.ok) {
        await started.value.stop();
        console.log(`${p.name}: not measured: ${echo.error.message}`);
        failed = true;
        continue;
      }
      console.log(`${p.name}: ${started.value.description}`);
      entries.push({
        name: p.name,
        peer: started.value,
        echo: echo.value,
        trips: [],
        connects: [],
        tripCpuMs: started.value.proxies.map(() => 0),
      });
    }
    const pids = entries.flatMap((e) => e.peer.proxies.map((x) => x.pid));
    const perRoundTrips = Math.ceil(cfg.trips / cfg.rounds);
    const perRoundConnects = Math.ceil(cfg.connects / cfg.rounds);
    // A short unrecorded lead-in per peer: first connections, JIT, the pool's HBONE connection.
    for (const e of entries) {
      await roundTrips(e.peer.target, e.peer.clientAddress, 200, cfg.bytes);
      await connects(e.peer.target, e.peer.clientAddress, 20);
    }
    for (let round = 0; round < cfg.rounds; round++) {
      for (const e of entries) {
        await waitQuiet(pids, 10_000);
        const cpu0 = e.peer.proxies.map((x) => readCpuMs(x.pid));
        const t = await roundTrips(e.peer.target, e.peer.clientAddress, perRoundTrips, cfg.bytes);
        e.peer.proxies.forEach((x, i) => (e.tripCpuMs[i]! += (readCpuMs(x.pid) ?? 0) - (cpu0[i] ?? 0)));
        if (t.ok) e.trips.push(...t.value);
        else {
          console.log(`${e.name}: round trips, round ${round + 1}: ${t.error.message}`);
          failed = true;
        }
        if (perRoundConnects === 0) continue;
        await waitQuiet(pids, 10_000);
        const n = await connects(e.peer.target, e.peer.clientAddress, perRoundConnects);
        if (n.ok) e.connects.push(...n.value);
        else {
          console.log(`${e.name}: connects, round ${round + 1}: ${n.error.message}`);
          failed = true;
        }
      }
    }
  } finally {
    for (const e of entries) {
      await stopChild(e.echo);
      await e.peer.stop();
    }
  }
  const ref = entries.find((e) => e.name === "stunnel");
  const refTrips = ref && ref.trips.length ? summarize(ref.trips) : null;
  const refConnects = ref && ref.connects.length ? summarize(ref.connects) : null;
  console.log(`\nround trip, ${cfg.bytes} B, concurrency 1, one connection (ratios x stunnel):`);
  for (const e of entries) if (e.trips.length) console.log(row(e.name, summarize(e.trips), refTrips));
  console.log(`CPU per round trip of each proxy (from /proc/<pid>/stat, 10 ms ticks over all rounds):`);
  for (const e of entries)
    if (e.trips.length && e.peer.proxies.length)
      console.log(
        `  ${e.name.padEnd(20)} ${e.peer.proxies.map((x, i) => `${x.role}: ${((e.tripCpuMs[i]! * 1000) / e.trips.length).toFixed(1)} us`).join(", ")}`,
      );
  if (cfg.connects > 0) {
    console.log(`new connection to first echo, one at a time (ratios x stunnel):`);
    for (const e of entries) if (e.connects.length) console.log(row(e.name, summarize(e.connects), refConnects));
  }
  console.log(`pingpong: load average ${load()} at end`);
  return failed ? 1 : 0;
}

if (require.main === module)
  main().then(
    (code) => process.exit(code),
    (e: unknown) => {
      console.error("pingpong: failed:", e);
      process.exit(1);
    },
  );
