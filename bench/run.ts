/**
 * The schedule of a bench run over all selected peers at once.
 *
 * All peers are started together (they use distinct loopback addresses) and each gets its own
 * echo server. The memory phase then runs peer by peer (it is about bytes, not time). Each
 * timed phase (latency, connection rate, throughput) is split into `rounds` rounds that visit
 * the peers in turn, so that load from anything else on the machine falls on every peer alike
 * instead of on whichever peer happened to run at that moment; the rounds are pooled per peer.
 * Before each measurement the proxies of every peer must be quiet (see `waitQuiet`).
 *
 * A failing phase is recorded in the peer's `errors` and the schedule goes on; a peer whose
 * proxy died is dropped from the remaining phases.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { join } from "node:path";
import { err, ok, type Result } from "../src/common/result.js";
import type { BenchConfig } from "./config.js";
import { measureConnectRate, mergeConnectRate, type ConnectRateResult } from "./load/connect-rate.js";
import { measureLatency, mergeLatency, type LatencySamples } from "./load/latency.js";
import { openConnections } from "./load/open-conns.js";
import { measureThroughput, mergeThroughput, type ThroughputResult } from "./load/throughput.js";
import type { RunningPeer } from "./peers/peer.js";
import { readMemorySplitKb, readRssKb, spawnChild, stopChild, waitForOutput, waitQuiet, type Child } from "./proc.js";
import type { PeerResult, ProxyMemory } from "./report.js";

const ECHO_SERVER = join(__dirname, "load", "echo-server.js");

/** One started peer with its result record and (while the echo phases run) its echo server. */
export interface Entry {
  readonly peer: RunningPeer;
  readonly result: PeerResult;
  echo: Child | null;
  dead: boolean;
}

type Say = (msg: string) => void;

export async function runSchedule(entries: readonly Entry[], cfg: BenchConfig, say: Say): Promise<void> {
  const allPids = (): number[] => entries.flatMap((e) => (e.dead ? [] : e.peer.proxies.map((p) => p.pid)));
  const quiet = (maxMs = 10_000): Promise<number> => waitQuiet(allPids(), maxMs);
  const live = (): Entry[] => entries.filter((e) => !e.dead && alive(e));

  await sleep(cfg.settleSeconds * 1000);
  await quiet();
  const idle = new Map(entries.map((e) => [e, rss(e)]));
  const idleSplit = new Map(entries.map((e) => [e, e.peer.proxies.map((p) => readMemorySplitKb(p.pid))]));

  for (const e of entries) {
    const echo = await startEcho(e.peer);
    if (echo.ok) e.echo = echo.value;
    else {
      e.result.errors.push(`echo server: ${echo.error.message}`);
      e.dead = true;
    }
  }
  try {
    for (const e of live()) await memoryPhase(e, idle.get(e) ?? [], cfg, say);
    for (const e of entries) {
      const split = idleSplit.get(e) ?? [];
      if (e.result.memory)
        e.result.memory = {
          ...e.result.memory,
          proxies: e.result.memory.proxies.map((p, i) => ({ ...p, idleSplit: split[i]?.ok ? split[i].value : null })),
        };
    }

    const roundSeconds = cfg.seconds / cfg.rounds;
    const latency = new Map<Entry, LatencySamples[]>();
    const connect = new Map<Entry, ConnectRateResult[]>();
    say(
      `latency: ${cfg.rps} req/s of ${cfg.messageBytes} B over ${cfg.latencyConnections} conns; ${cfg.rounds} rounds of ${cfg.warmupSeconds} + ${roundSeconds.toFixed(2)} s per peer`,
    );
    for (let round = 0; round < cfg.rounds; round++) {
      for (const e of live()) {
        await quiet();
        const r = await measureLatency({
          target: e.peer.target,
          clientAddress: e.peer.clientAddress,
          rps: cfg.rps,
          connections: cfg.latencyConnections,
          messageBytes: cfg.messageBytes,
          warmupSeconds: cfg.warmupSeconds,
          seconds: roundSeconds,
        });
        if (r.ok) push(latency, e, r.value);
        else e.result.errors.push(`latency round ${round + 1}: ${r.error.message}`);
      }
    }
    for (const [e, rounds] of latency) {
      e.result.latency = mergeLatency(rounds);
      const l = e.result.latency;
      say(
        `  ${e.result.peer}: p50 ${l.fromSend.p50Us.toFixed(0)} us, p99 ${l.fromSend.p99Us.toFixed(0)} us (rounds: ${l.roundP99Us.map((x) => x.toFixed(0)).join(", ")}), lost ${l.lost}`,
      );
    }

    say(`connection rate: ${cfg.connectWorkers} workers; ${cfg.rounds} rounds of ${roundSeconds.toFixed(2)} s per peer`);
    for (let round = 0; round < cfg.rounds; round++) {
      for (const e of live()) {
        await quiet();
        const r = await measureConnectRate({
          target: e.peer.target,
          clientAddress: e.peer.clientAddress,
          workers: cfg.connectWorkers,
          seconds: roundSeconds,
        });
        if (r.ok) push(connect, e, r.value);
        else e.result.errors.push(`connect rate round ${round + 1}: ${r.error.message}`);
      }
    }
    for (const [e, rounds] of connect) {
      const c = (e.result.connectRate = mergeConnectRate(rounds));
      say(
        `  ${e.result.peer}: ${c.perSecond.toFixed(0)}/s (rounds: ${rounds.map((r) => r.perSecond.toFixed(0)).join(", ")}), ${c.failed} failed`,
      );
      if (c.failed > 0) e.result.errors.push(`connect rate: ${c.failed} connections failed, first: ${c.firstError ?? "?"}`);
    }
  } finally {
    // iperf3's server needs the port the echo server holds.
    for (const e of entries) {
      if (e.echo) await stopChild(e.echo);
      e.echo = null;
    }
  }

  const tpSeconds = Math.max(1, Math.round(cfg.seconds / cfg.rounds));
  const throughput = new Map<Entry, ThroughputResult[]>();
  say(`throughput: iperf3, 1 connection; ${cfg.rounds} rounds of 1 + ${tpSeconds} s per peer (first second omitted)`);
  for (let round = 0; round < cfg.rounds; round++) {
    for (const e of live()) {
      await quiet();
      const r = await measureThroughput({
        target: e.peer.target,
        clientAddress: e.peer.clientAddress,
        upstream: e.peer.upstream,
        seconds: tpSeconds,
      });
      if (r.ok) push(throughput, e, r.value);
      else e.result.errors.push(`throughput round ${round + 1}: ${r.error.message}`);
    }
  }
  for (const [e, rounds] of throughput) {
    const t = (e.result.throughput = mergeThroughput(rounds));
    say(
      `  ${e.result.peer}: ${(t.bitsPerSecond / 1e9).toFixed(2)} Gbit/s (rounds: ${t.roundBitsPerSecond.map((b) => (b / 1e9).toFixed(2)).join(", ")})`,
    );
  }
  for (const e of live()) {
    if (!e.peer.verify) continue;
    const v = await e.peer.verify();
    if (v.ok) {
      e.result.notes.push(v.value);
      say(`  ${e.result.peer}: ${v.value}`);
    } else e.result.errors.push(`verify: ${v.error.message}`);
  }
}

/** Holds `cfg.openConnections` verified connections through one peer and reads its proxies' RSS. */
async function memoryPhase(e: Entry, idle: readonly (number | null)[], cfg: BenchConfig, say: Say): Promise<void> {
  const { peer, result } = e;
  if (cfg.openConnections === 0 || peer.proxies.length === 0) {
    result.memory = {
      proxies: peer.proxies.map((p, i) => ({ role: p.role, idleKb: idle[i] ?? null, loadedKb: null })),
      requested: 0,
      opened: 0,
      failed: 0,
      firstError: null,
      openSeconds: 0,
    };
    return;
  }
  say(`memory: ${result.peer}: opening ${cfg.openConnections} connections (<= ${cfg.openRate}/s)`);
  const set = await openConnections({
    target: peer.target,
    clientAddress: peer.clientAddress,
    count: cfg.openConnections,
    ratePerSecond: cfg.openRate,
    maxPending: 128,
    deadlineMs: Math.max(90_000, (cfg.openConnections / cfg.openRate) * 3000),
  });
  await sleep(cfg.settleSeconds * 1000);
  const loaded = rss(e);
  set.close();
  const proxies: ProxyMemory[] = peer.proxies.map((p, i) => ({ role: p.role, idleKb: idle[i] ?? null, loadedKb: loaded[i] ?? null }));
  result.memory = {
    proxies,
    requested: cfg.openConnections,
    opened: set.opened,
    failed: set.failed,
    firstError: set.firstError,
    openSeconds: set.seconds,
  };
  if (set.opened < cfg.openConnections)
    result.errors.push(
      `memory: only ${set.opened} of ${cfg.openConnections} connections opened (${set.failed} failed: ${set.firstError ?? "deadline"})`,
    );
  say(`  ${set.opened} open in ${set.seconds.toFixed(1)} s, RSS ${fmtKb(idle)} idle -> ${fmtKb(loaded)}`);
  // Teardown of thousands of connections (stunnel joins a thread each) must not be timed later.
  const waited = await waitQuiet(
    peer.proxies.map((p) => p.pid),
    60_000,
  );
  if (waited > 2000) say(`  proxies busy closing connections for ${(waited / 1000).toFixed(1)} s`);
}

function alive(e: Entry): boolean {
  if (e.dead) return false;
  const c = e.peer.check();
  if (!c.ok) {
    e.result.errors.push(`proxy died: ${c.error.message}`);
    e.dead = true;
  }
  return c.ok;
}

function rss(e: Entry): (number | null)[] {
  return e.peer.proxies.map((p) => {
    const r = readRssKb(p.pid);
    return r.ok ? r.value : null;
  });
}

function push<T>(m: Map<Entry, T[]>, e: Entry, v: T): void {
  const list = m.get(e);
  if (list) list.push(v);
  else m.set(e, [v]);
}

/** Starts the echo server `peer`'s upstream address needs (its own process), once it listens. */
export async function startEcho(peer: RunningPeer): Promise<Result<Child>> {
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
