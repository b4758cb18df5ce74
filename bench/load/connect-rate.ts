/**
 * New connections per second: `workers` concurrent loops, each doing connect, send 1 byte,
 * read the 1-byte echo, close, for a fixed time. Every counted connection went end to end (see
 * `ping-conn.ts`). The client closes first, so TIME_WAIT lands on the client's side of loopback,
 * where the kernel reuses it (net.ipv4.tcp_tw_reuse = 2, the default, covers loopback).
 * A failing connection is counted, its first error kept, and the worker pauses briefly so a
 * broken path is reported instead of spun on.
 */
import { ok, err, type Result } from "../../src/common/result.js";
import type { HostPort } from "../peers/peer.js";
import { pingConnection } from "./ping-conn.js";

export interface ConnectRateOptions {
  readonly target: HostPort;
  readonly clientAddress: string;
  readonly workers: number;
  readonly seconds: number;
}

export interface ConnectRateResult {
  readonly perSecond: number;
  readonly seconds: number;
  readonly completed: number;
  readonly failed: number;
  readonly firstError: string | null;
}

const PER_CONNECTION_TIMEOUT_MS = 5000;

export async function measureConnectRate(o: ConnectRateOptions): Promise<Result<ConnectRateResult>> {
  const startMs = performance.now();
  const endMs = startMs + o.seconds * 1000;
  let completed = 0;
  let failed = 0;
  let firstError: string | null = null;
  const worker = async (): Promise<void> => {
    while (performance.now() < endMs) {
      const r = await pingConnection(o.target, o.clientAddress, PER_CONNECTION_TIMEOUT_MS);
      if (r.ok) {
        r.value.destroy();
        // Connections that finish after the window are not counted: the rate is per window.
        if (performance.now() <= endMs) completed++;
      } else {
        failed++;
        firstError ??= r.error.message;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
  };
  await Promise.all(Array.from({ length: o.workers }, worker));
  const elapsed = (Math.min(performance.now(), endMs) - startMs) / 1000;
  if (completed === 0) return err(new Error(`connect rate: no connection completed: ${firstError ?? "unknown"}`));
  return ok({ perSecond: completed / elapsed, seconds: elapsed, completed, failed, firstError });
}

/** Pools rounds: total completed over total time. */
export function mergeConnectRate(rounds: readonly ConnectRateResult[]): ConnectRateResult {
  const completed = rounds.reduce((a, r) => a + r.completed, 0);
  const seconds = rounds.reduce((a, r) => a + r.seconds, 0);
  return {
    perSecond: seconds > 0 ? completed / seconds : 0,
    seconds,
    completed,
    failed: rounds.reduce((a, r) => a + r.failed, 0),
    firstError: rounds.find((r) => r.firstError !== null)?.firstError ?? null,
  };
}
