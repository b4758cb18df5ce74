/**
 * Runs every phase against one started peer, in an order chosen so phases do not disturb each
 * other: idle memory first (before any traffic), then the held connections (memory under
 * load), latency, connection rate, and throughput last (it needs iperf3's server on the port
 * the echo server held). A failing phase is recorded in `errors` and the next phase still
 * runs, unless a proxy process has died, which ends the peer's run.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { join } from "node:path";
import { err, ok, type Result } from "../src/common/result.js";
import type { BenchConfig } from "./config.js";
import { measureConnectRate } from "./load/connect-rate.js";
import { measureLatency } from "./load/latency.js";
import { openConnections } from "./load/open-conns.js";
import { measureThroughput } from "./load/throughput.js";
import type { RunningPeer } from "./peers/peer.js";
import { readRssKb, spawnChild, stopChild, waitForOutput, waitQuiet, type Child } from "./proc.js";
import type { PeerResult, ProxyMemory } from "./report.js";

const ECHO_SERVER = join(__dirname, "load", "echo-server.js");

export async function runPhases(peer: RunningPeer, result: PeerResult, cfg: BenchConfig, say: (msg: string) => void): Promise<void> {
  const alive = (): boolean => {
    const c = peer.check();
    if (!c.ok) result.errors.push(`proxy died: ${c.error.message}`);
    return c.ok;
  };
  // Each timed phase starts with the proxies idle, so one phase's tail is not the next's cost.
  const quiet = (): Promise<number> => waitQuiet(peer.proxies.map((p) => p.pid), 10_000);
  const rss = (): (number | null)[] => peer.proxies.map((p) => { const r = readRssKb(p.pid); return r.ok ? r.value : null; });

  await sleep(cfg.settleSeconds * 1000);
  await waitQuiet(peer.proxies.map((p) => p.pid), 10_000);
  const idle = rss();

  const echo = await startEcho(peer);
  if (!echo.ok) {
    result.errors.push(`echo server: ${echo.error.message}`);
    return;
  }
  try {
    if (cfg.openConnections > 0) {
      say(`  memory: opening ${cfg.openConnections} connections (<= ${cfg.openRate}/s)`);
      const set = await openConnections({
        target: peer.target,
        clientAddress: peer.clientAddress,
        count: cfg.openConnections,
        ratePerSecond: cfg.openRate,
        maxPending: 128,
        deadlineMs: Math.max(90_000, (cfg.openConnections / cfg.openRate) * 3000),
      });
      await sleep(cfg.settleSeconds * 1000);
      const loaded = rss();
      set.close();
      const proxies: ProxyMemory[] = peer.proxies.map((p, i) => ({ role: p.role, idleKb: idle[i] ?? null, loadedKb: loaded[i] ?? null }));
      result.memory = { proxies, requested: cfg.openConnections, opened: set.opened, failed: set.failed, firstError: set.firstError, openSeconds: set.seconds };
      if (set.opened < cfg.openConnections) result.errors.push(`memory: only ${set.opened} of ${cfg.openConnections} connections opened (${set.failed} failed: ${set.firstError ?? "deadline"})`);
      say(`  memory: ${set.opened} open in ${set.seconds.toFixed(1)} s, RSS ${fmtKb(idle)} idle -> ${fmtKb(loaded)}`);
      // Let the proxies finish tearing the connections down before timing anything.
      const waited = await waitQuiet(peer.proxies.map((p) => p.pid), 60_000);
      if (waited > 2000) say(`  memory: proxies busy closing connections for ${(waited / 1000).toFixed(1)} s`);
    } else {
      result.memory = { proxies: peer.proxies.map((p, i) => ({ role: p.role, idleKb: idle[i] ?? null, loadedKb: null })), requested: 0, opened: 0, failed: 0, firstError: null, openSeconds: 0 };
    }
    if (!alive()) return;

    await quiet();
    say(`  latency: ${cfg.rps} req/s of ${cfg.messageBytes} B over ${cfg.latencyConnections} conns, ${cfg.warmupSeconds}+${cfg.seconds} s`);
    const lat = await measureLatency({
      target: peer.target,
      clientAddress: peer.clientAddress,
      rps: cfg.rps,
      connections: cfg.latencyConnections,
      messageBytes: cfg.messageBytes,
      warmupSeconds: cfg.warmupSeconds,
      seconds: cfg.seconds,
    });
    if (lat.ok) {
      result.latency = lat.value;
      say(`  latency: p50 ${lat.value.fromSend.p50Us.toFixed(0)} us, p99 ${lat.value.fromSend.p99Us.toFixed(0)} us, lost ${lat.value.lost}`);
    } else result.errors.push(lat.error.message);
    if (!alive()) return;

    await quiet();
    say(`  connection rate: ${cfg.connectWorkers} workers, ${cfg.seconds} s`);
    const cr = await measureConnectRate({ target: peer.target, clientAddress: peer.clientAddress, workers: cfg.connectWorkers, seconds: cfg.seconds });
    if (cr.ok) {
      result.connectRate = cr.value;
      say(`  connection rate: ${cr.value.perSecond.toFixed(0)}/s (${cr.value.failed} failed)`);
      if (cr.value.failed > 0) result.errors.push(`connect rate: ${cr.value.failed} connections failed, first: ${cr.value.firstError ?? "?"}`);
    } else result.errors.push(cr.error.message);
    if (!alive()) return;
  } finally {
    await stopChild(echo.value);
  }

  await quiet();
  say(`  throughput: iperf3, 1 connection, ${cfg.seconds} s`);
  const tp = await measureThroughput({ target: peer.target, clientAddress: peer.clientAddress, upstream: peer.upstream, seconds: cfg.seconds });
  if (tp.ok) {
    result.throughput = tp.value;
    say(`  throughput: ${(tp.value.bitsPerSecond / 1e9).toFixed(2)} Gbit/s`);
  } else result.errors.push(tp.error.message);
  alive();
}

async function startEcho(peer: RunningPeer): Promise<Result<Child>> {
  const child = spawnChild("echo server", process.execPath, [ECHO_SERVER, peer.upstream.host, String(peer.upstream.port)]);
  if (!child.ok) return child;
  const up = await waitForOutput(child.value, /^listening$/m);
  if (!up.ok) {
    await stopChild(child.value);
    return err(up.error);
  }
  return ok(child.value);
}

function fmtKb(xs: readonly (number | null)[]): string {
  return xs.length === 0 ? "n/a" : xs.map((x) => (x === null ? "?" : `${(x / 1024).toFixed(1)} MB`)).join(" + ");
}
