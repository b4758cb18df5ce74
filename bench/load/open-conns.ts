/**
 * Holds many verified connections open at once, to measure what each costs a proxy in memory.
 * Connections are opened at a bounded rate (no more than `ratePerSecond` started, no more than
 * `maxPending` in handshake at a time) so the measurement is of steady holding, not of a SYN
 * flood; each is verified with a 1-byte echo. `close` destroys them all.
 */
import type { Socket } from "node:net";
import type { HostPort } from "../peers/peer.js";
import { pingConnection } from "./ping-conn.js";

export interface OpenOptions {
  readonly target: HostPort;
  readonly clientAddress: string;
  readonly count: number;
  readonly ratePerSecond: number;
  readonly maxPending: number;
  /** Give up opening more after this long; what is open by then is kept and reported. */
  readonly deadlineMs: number;
}

export interface OpenSet {
  readonly opened: number;
  readonly failed: number;
  readonly firstError: string | null;
  readonly seconds: number;
  close(): void;
}

const PER_CONNECTION_TIMEOUT_MS = 10_000;

export async function openConnections(o: OpenOptions): Promise<OpenSet> {
  const sockets: Socket[] = [];
  let failed = 0;
  let firstError: string | null = null;
  let started = 0;
  const t0 = performance.now();
  const deadline = t0 + o.deadlineMs;
  // A failure streak stops early: a path that refuses connections would otherwise take the
  // whole deadline to report it.
  let streak = 0;
  const worker = async (): Promise<void> => {
    while (started < o.count && performance.now() < deadline && streak < 200) {
      const i = started++;
      const dueMs = t0 + (i * 1000) / o.ratePerSecond;
      const wait = dueMs - performance.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      const r = await pingConnection(o.target, o.clientAddress, PER_CONNECTION_TIMEOUT_MS);
      if (r.ok) {
        sockets.push(r.value);
        streak = 0;
      } else {
        failed++;
        streak++;
        firstError ??= r.error.message;
      }
    }
  };
  await Promise.all(Array.from({ length: o.maxPending }, worker));
  return {
    opened: sockets.length,
    failed,
    firstError,
    seconds: (performance.now() - t0) / 1000,
    close: () => {
      for (const s of sockets) s.destroy();
      sockets.length = 0;
    },
  };
}
