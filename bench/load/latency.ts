/**
 * Request/response latency at a fixed rate, open loop: request i of the run is due at
 * start + i / rps and is sent when due whether or not earlier responses have come back (so a
 * slow response cannot delay the next request and hide its own cost, the "coordinated
 * omission" of closed-loop clients). Requests are `messageBytes` of payload spread round-robin
 * over a few connections to the echo server; responses come back in order per connection, so a
 * FIFO of send times per connection pairs them up.
 *
 * Two latencies are recorded per request: from the moment it was written (the service time the
 * path adds) and from the moment it was due (includes any lag of this client's own timer). The
 * report shows the first and the schedule lag, so a run where the client itself fell behind is
 * visible instead of silently inflating or deflating the figures. The first `warmupSeconds` are
 * sent but not recorded.
 */
import type { Socket } from "node:net";
import { err, ok, type Result } from "../../src/common/result.js";
import { summarize, type LatencySummary } from "../stats.js";
import type { HostPort } from "../peers/peer.js";
import { dial } from "./dial.js";

export interface LatencyOptions {
  readonly target: HostPort;
  readonly clientAddress: string;
  readonly rps: number;
  readonly connections: number;
  readonly messageBytes: number;
  readonly warmupSeconds: number;
  readonly seconds: number;
}

/** The raw record of one run (one round), in microseconds; `mergeLatency` summarises rounds. */
export interface LatencySamples {
  readonly fromSend: readonly number[];
  readonly fromSchedule: readonly number[];
  readonly lags: readonly number[];
  /** Requests due in the recorded window. */
  readonly sent: number;
  readonly seconds: number;
}

export interface LatencyResult {
  /** Latency from write to complete echo, recorded requests only. */
  readonly fromSend: LatencySummary;
  /** Latency from the scheduled time to complete echo (coordinated-omission-free). */
  readonly fromSchedule: LatencySummary;
  /** How late this client wrote requests compared to the schedule. */
  readonly lagP99Us: number;
  readonly sent: number;
  readonly completed: number;
  /** Requests sent but not answered within the drain time after the run. */
  readonly lost: number;
  /** Completed requests per second over the recorded window. */
  readonly achievedRps: number;
  /** p99 from send of each round alone, to show how much the figure moved during the run. */
  readonly roundP99Us: readonly number[];
}

/** Pools the samples of several rounds (percentiles over all of them) into one result. */
export function mergeLatency(rounds: readonly LatencySamples[]): LatencyResult {
  const all = (f: (r: LatencySamples) => readonly number[]): number[] => rounds.flatMap((r) => [...f(r)]);
  const fromSend = all((r) => r.fromSend);
  const sent = rounds.reduce((a, r) => a + r.sent, 0);
  const seconds = rounds.reduce((a, r) => a + r.seconds, 0);
  return {
    fromSend: summarize(fromSend),
    fromSchedule: summarize(all((r) => r.fromSchedule)),
    lagP99Us: summarize(all((r) => r.lags)).p99Us,
    sent,
    completed: fromSend.length,
    lost: sent - fromSend.length,
    achievedRps: seconds > 0 ? fromSend.length / seconds : 0,
    roundP99Us: rounds.map((r) => summarize(r.fromSend).p99Us),
  };
}

interface Conn {
  readonly sock: Socket;
  /** Scheduled and actual send times (ns, hrtime) of requests awaiting their echo, oldest first. */
  readonly due: bigint[];
  readonly sentAt: bigint[];
  head: number;
  pendingBytes: number;
}

const DRAIN_MS = 2000;

export async function measureLatency(o: LatencyOptions): Promise<Result<LatencySamples>> {
  const opened = await Promise.all(Array.from({ length: o.connections }, () => openConn(o.target, o.clientAddress)));
  const failed = opened.find((r) => !r.ok);
  if (failed && !failed.ok) {
    for (const r of opened) if (r.ok) r.value.destroy();
    return err(new Error(`latency: connect ${o.target.host}:${o.target.port} from ${o.clientAddress}: ${failed.error.message}`));
  }
  const conns: Conn[] = opened.map((r) => ({ sock: (r as { value: Socket }).value, due: [], sentAt: [], head: 0, pendingBytes: 0 }));
  const payload = Buffer.alloc(o.messageBytes, 0x61);
  const intervalNs = BigInt(Math.round(1e9 / o.rps));
  const start = process.hrtime.bigint() + 10_000_000n;
  const recordFrom = start + BigInt(Math.round(o.warmupSeconds * 1e9));
  const end = recordFrom + BigInt(Math.round(o.seconds * 1e9));
  const total = Number((end - start) / intervalNs);
  const fromSend: number[] = [];
  const fromSchedule: number[] = [];
  const lags: number[] = [];
  let socketError: Error | null = null;
  let outstanding = 0;

  for (const c of conns) {
    c.sock.on("data", (chunk: Buffer) => {
      const now = process.hrtime.bigint();
      c.pendingBytes += chunk.length;
      while (c.pendingBytes >= o.messageBytes && c.head < c.due.length) {
        c.pendingBytes -= o.messageBytes;
        const due = c.due[c.head]!;
        const sentAt = c.sentAt[c.head]!;
        c.head++;
        outstanding--;
        if (due >= recordFrom) {
          fromSend.push(Number(now - sentAt) / 1000);
          fromSchedule.push(Number(now - due) / 1000);
        }
      }
    });
    c.sock.on("error", (e) => {
      socketError ??= e;
    });
    c.sock.on("close", () => {
      socketError ??= new Error("connection closed by the path during the run");
    });
  }

  let next = 0;
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const now = process.hrtime.bigint();
      while (next < total && start + BigInt(next) * intervalNs <= now) {
        const due = start + BigInt(next) * intervalNs;
        const c = conns[next % conns.length]!;
        const sentAt = process.hrtime.bigint();
        c.due.push(due);
        c.sentAt.push(sentAt);
        outstanding++;
        c.sock.write(payload);
        if (due >= recordFrom) lags.push(Number(sentAt - due) / 1000);
        next++;
      }
      if (next >= total || socketError) {
        resolve();
        return;
      }
      const waitNs = start + BigInt(next) * intervalNs - process.hrtime.bigint();
      setTimeout(tick, Math.max(0, Math.floor(Number(waitNs) / 1e6)));
    };
    tick();
  });
  const drainUntil = Date.now() + DRAIN_MS;
  while (outstanding > 0 && !socketError && Date.now() < drainUntil) await new Promise((r) => setTimeout(r, 10));
  for (const c of conns) {
    c.sock.removeAllListeners("close");
    c.sock.destroy();
  }
  if (socketError) return err(new Error(`latency: ${(socketError as Error).message} after ${next} of ${total} requests`));
  if (fromSend.length === 0) return err(new Error("latency: no request completed in the recorded window"));
  return ok({ fromSend, fromSchedule, lags, sent: lags.length, seconds: o.seconds });
}

function openConn(target: HostPort, localAddress: string): Promise<Result<Socket>> {
  return dial(target, localAddress, 5000);
}
