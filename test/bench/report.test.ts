import { test } from "node:test";
import assert from "node:assert/strict";
import { buildTable, type PeerResult } from "../../bench/report.js";
import type { LatencySummary } from "../../bench/stats.js";

/** A peer's result with the figures the table reads (memory: two proxies, 1000 tunnels). */
function peer(
  name: string,
  f: { gbit: number; p50: number; p99: number; connPerS: number; idleMb?: number; kbPerConn?: number },
): PeerResult {
  const summary: LatencySummary = { p50Us: f.p50, p90Us: f.p50, p99Us: f.p99, p999Us: f.p99, maxUs: f.p99, meanUs: f.p50, count: 1 };
  const idleKb = (f.idleMb ?? 0) * 1024;
  const proxies =
    f.kbPerConn === undefined ? [] : ["node-a", "node-b"].map((role) => ({ role, idleKb, loadedKb: idleKb + f.kbPerConn! * 1000 }));
  return {
    peer: name,
    description: name,
    throughput: { bitsPerSecond: f.gbit * 1e9, retransmits: 0, roundBitsPerSecond: [] },
    latency: { fromSend: summary, fromSchedule: summary, lagP99Us: 0, sent: 1, completed: 1, lost: 0, achievedRps: 1, roundP99Us: [] },
    connectRate: { perSecond: f.connPerS, seconds: 1, completed: f.connPerS, failed: 0, firstError: null },
    memory: proxies.length ? { proxies, requested: 1000, opened: 1000, failed: 0, firstError: null, openSeconds: 1 } : null,
    notes: [],
    errors: [],
  };
}

const direct = peer("direct", { gbit: 20, p50: 50, p99: 100, connPerS: 20000 });
const stunnel = peer("stunnel", { gbit: 6, p50: 150, p99: 300, connPerS: 400, idleMb: 5, kbPerConn: 40 });
const native = peer("ztunnel-native", { gbit: 7, p50: 140, p99: 350, connPerS: 2100, idleMb: 77, kbPerConn: 5.5 });
const node = peer("ztunnel", { gbit: 6.3, p50: 200, p99: 400, connPerS: 1300, idleMb: 77, kbPerConn: 8.5 });

const row = (t: ReturnType<typeof buildTable>, metric: string): readonly string[] => {
  const r = t.rows.find((x) => x[0] === metric);
  assert.ok(r, `row ${metric}`);
  return r;
};

test("bench table: one column group per ztunnel pair, the default (native) engine first, in any input order", () => {
  const t = buildTable([node, stunnel, native, direct]);
  assert.deepEqual(t.headers, [
    "metric",
    "direct",
    "stunnel (x direct)",
    "ztunnel-native (x direct)",
    "ztunnel-native/stunnel",
    "ztunnel-native target",
    "ztunnel (x direct)",
    "ztunnel/stunnel",
    "ztunnel target",
  ]);
  for (const r of t.rows) assert.equal(r.length, t.headers.length);
  const only = buildTable([direct, stunnel, native]);
  assert.equal(only.headers.length, 6, "a pair not measured has no columns");
});

test("bench table: issue 14's targets judged per pair against stunnel in the same run", () => {
  const t = buildTable([direct, stunnel, native, node]);
  // throughput >= 1.1x stunnel: 7 / 6 = 1.17 met; 6.3 / 6 = 1.05 missed.
  assert.deepEqual(
    [row(t, "throughput, 1 conn (Gbit/s)")[5], row(t, "throughput, 1 conn (Gbit/s)")[8]],
    [">= 1.1x stunnel: met", ">= 1.1x stunnel: MISSED"],
  );
  // new connections/s >= 5x stunnel: 2100 / 400 = 5.25 met; 1300 / 400 missed.
  assert.equal(row(t, "new connections/s")[4], "5.25x");
  assert.deepEqual([row(t, "new connections/s")[5], row(t, "new connections/s")[8]], [">= 5x stunnel: met", ">= 5x stunnel: MISSED"]);
  // added p50 over direct: native 90 <= stunnel's 100 met, node 150 missed; added p99: 250 > 200 missed for both.
  assert.deepEqual([row(t, "added p50 vs direct (us)")[3], row(t, "added p50 vs direct (us)")[5]], ["90", "<= stunnel's: met"]);
  assert.equal(row(t, "added p50 vs direct (us)")[8], "<= stunnel's: MISSED");
  assert.equal(row(t, "added p99 vs direct (us)")[5], "<= stunnel's: MISSED");
  // memory: <= 6 KB per open tunnel on the largest side, idle RSS < 40 MB.
  assert.deepEqual(
    [row(t, "KB per open conn, largest proxy")[5], row(t, "KB per open conn, largest proxy")[8]],
    ["<= 6 KB: met", "<= 6 KB: MISSED"],
  );
  assert.equal(row(t, "idle RSS, largest proxy (MB)")[5], "< 40 MB: MISSED");
});

test("bench table: a missing figure is never a met target", () => {
  const broken = { ...native, throughput: null, connectRate: null };
  const t = buildTable([direct, stunnel, broken]);
  assert.equal(row(t, "throughput, 1 conn (Gbit/s)")[5], ">= 1.1x stunnel: n/a");
  assert.equal(row(t, "new connections/s")[3], "-");
  assert.equal(row(t, "new connections/s")[5], ">= 5x stunnel: n/a");
});
