/**
 * `npm run bench` (scripts/bench.sh builds, then runs `node dist/bench/main.js`): measures direct
 * TCP, a stunnel mTLS pair and a weft ztunnel pair side by side with the same load generators,
 * prints the comparison table and writes docs/benchmarks.md.
 *
 * All peers are started together, but load is only ever applied to one at a time (the machine's
 * CPUs are shared by the client, the server and the proxies); `run.ts` alternates them in rounds.
 * Everything started is stopped at the end, and on Ctrl-C or a crash by `proc.ts`'s hooks. A peer that cannot start (e.g. ztunnel not built yet) is reported
 * with its error and the others are still measured. Exit status: 0 when every selected peer
 * produced every figure, 1 otherwise, 2 for bad settings.
 */
import { writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { loadConfig, type PeerName } from "./config.js";
import { machineInfo } from "./machine.js";
import { directPeer } from "./peers/direct.js";
import type { Peer } from "./peers/peer.js";
import { stunnelPeer } from "./peers/stunnel.js";
import { ztunnelNativePeer, ztunnelPeer } from "./peers/ztunnel.js";
import { installCleanupHooks, openFileLimit } from "./proc.js";
import { buildTable, renderText, runCaveats, type PeerResult } from "./report.js";
import { renderBenchmarksDoc } from "./report-markdown.js";
import { runSchedule, type Entry } from "./run.js";

const PEERS: Record<PeerName, Peer> = {
  direct: directPeer,
  stunnel: stunnelPeer,
  ztunnel: ztunnelPeer,
  "ztunnel-native": ztunnelNativePeer,
};

async function main(): Promise<number> {
  const cfgR = loadConfig(process.env);
  if (!cfgR.ok) {
    console.error(cfgR.error.message);
    return 2;
  }
  let cfg = cfgR.value;
  installCleanupHooks();
  const say = (msg: string): void => console.log(msg);

  // The memory phase holds N client sockets in this process, and a proxy holds two per
  // connection in one process; stunnel admits at most limit * 125 / 256 clients. Where the
  // open-file limit cannot be raised that far, every peer gets the same smaller N.
  const limit = openFileLimit();
  const notes: string[] = [];
  const fit = Math.floor((limit * 0.48) / 100) * 100;
  if (cfg.openConnections > fit) {
    if (fit < 100) {
      console.error(
        `bench: open-file limit is ${limit}, too low for the memory phase; run through scripts/bench.sh (raises ulimit -n) or set BENCH_OPEN_CONNS=0`,
      );
      return 2;
    }
    notes.push(
      `Note: the memory phase held ${fit} connections instead of ${cfg.openConnections}: the open-file limit here is ${limit} and cannot be raised (a stunnel process holds two sockets per connection and admits at most limit * 125 / 256 clients).`,
    );
    cfg = { ...cfg, openConnections: fit };
  }
  for (const n of notes) say(n);

  const machine = machineInfo();
  const started = Date.now();
  say(
    `machine: ${machine.cpu}, ${machine.cpuCount} CPUs, load average ${machine.loadAtStart}${machine.loadAtStart > machine.cpuCount ? " (busy: expect noisy figures)" : ""}`,
  );
  const results: PeerResult[] = [];
  const entries: Entry[] = [];
  try {
    for (const name of cfg.peers) {
      const running = await PEERS[name].start();
      if (!running.ok) {
        say(`${name}: not measured: ${running.error.message}`);
        results.push({
          peer: name,
          description: "not started",
          throughput: null,
          latency: null,
          connectRate: null,
          memory: null,
          notes: [],
          errors: [`start: ${running.error.message}`],
        });
        continue;
      }
      say(`${name}: ${running.value.description}`);
      const result: PeerResult = {
        peer: name,
        description: running.value.description,
        throughput: null,
        latency: null,
        connectRate: null,
        memory: null,
        notes: [],
        errors: [],
      };
      results.push(result);
      entries.push({ peer: running.value, result, echo: null, dead: false });
    }
    await runSchedule(entries, cfg, say);
  } finally {
    await Promise.all(entries.map((e) => e.peer.stop()));
  }
  for (const r of results) for (const e of r.errors) say(`!! ${r.peer}: ${e}`);

  const table = buildTable(results);
  const caveats = runCaveats(results);
  const elapsed = (Date.now() - started) / 1000;
  console.log(`\n${renderText(table)}\n`);
  console.log(`(${elapsed.toFixed(0)} s; ratios "x direct" are value / direct TCP's value)`);
  for (const c of caveats) console.log(`caveat: ${c}`);
  if (cfg.out !== "-") {
    const path = resolve(cfg.out);
    writeFileSync(
      path,
      renderBenchmarksDoc({
        table,
        results,
        cfg,
        machine,
        elapsedSeconds: elapsed,
        notes: [...notes, ...caveats.map((c) => `Caveat: ${c}.`)],
      }),
    );
    console.log(`wrote ${path}`);
  }
  const complete = results.every((r) => r.errors.length === 0);
  return complete ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error("bench: failed:", e);
    process.exit(1);
  },
);
