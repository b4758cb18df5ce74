/**
 * Closed-loop latency at concurrency 1, for telling apart the per-round-trip cost of two paths
 * (bench/pingpong.ts): one request in flight at a time, so each sample is the path's own
 * round trip with no queueing behind other requests (the open-loop phase of load/latency.ts
 * measures the path under a fixed rate instead).
 *
 * - `roundTrips`: over one connection, `count` times: write `bytes` bytes, wait until all of
 *   them are echoed, record the time from the write.
 * - `connects`: `count` times, one after the other: connect, send one byte, wait for its echo
 *   (the whole path established, load/ping-conn.ts), record the time from the connect, close.
 */
import type { Socket } from "node:net";
import { err, ok, type Result } from "../../src/common/result.js";
import type { HostPort } from "../peers/peer.js";
import { dial } from "./dial.js";
import { pingConnection } from "./ping-conn.js";

const TIMEOUT_MS = 5000;

/** Round-trip times (us) of `count` sequential `bytes`-byte echoes over one connection. */
export async function roundTrips(target: HostPort, clientAddress: string, count: number, bytes: number): Promise<Result<number[]>> {
  const dialed = await dial(target, clientAddress, TIMEOUT_MS);
  if (!dialed.ok) return dialed;
  const sock = dialed.value;
  const payload = Buffer.alloc(bytes, 0x62);
  const samples: number[] = [];
  const r = await new Promise<Result<number[]>>((resolve) => {
    let got = 0;
    let sentAt = 0n;
    const timer = setInterval(() => {
      if (sentAt !== 0n && process.hrtime.bigint() - sentAt > BigInt(TIMEOUT_MS) * 1_000_000n)
        finish(err(new Error(`no echo within ${TIMEOUT_MS} ms after ${samples.length} round trips`)));
    }, 1000);
    const finish = (res: Result<number[]>): void => {
      clearInterval(timer);
      sock.removeAllListeners("data");
      resolve(res);
    };
    const send = (): void => {
      got = 0;
      sentAt = process.hrtime.bigint();
      sock.write(payload);
    };
    sock.on("data", (chunk: Buffer) => {
      got += chunk.length;
      if (got < bytes) return;
      samples.push(Number(process.hrtime.bigint() - sentAt) / 1000);
      if (got > bytes) return finish(err(new Error(`echo returned ${got} bytes for ${bytes}`)));
      if (samples.length >= count) return finish(ok(samples));
      send();
    });
    sock.on("error", (e) => finish(err(e)));
    sock.on("end", () => finish(err(new Error(`closed by the path after ${samples.length} round trips`))));
    send();
  });
  sock.destroy();
  return r;
}

/** Times (us) from connect to the first byte's echo of `count` connections made one after the other. */
export async function connects(target: HostPort, clientAddress: string, count: number): Promise<Result<number[]>> {
  const samples: number[] = [];
  for (let i = 0; i < count; i++) {
    const t0 = process.hrtime.bigint();
    const r: Result<Socket> = await pingConnection(target, clientAddress, TIMEOUT_MS);
    if (!r.ok) return err(new Error(`connection ${i + 1}: ${r.error.message}`));
    samples.push(Number(process.hrtime.bigint() - t0) / 1000);
    r.value.destroy();
  }
  return ok(samples);
}
