/**
 * Bulk throughput of one TCP connection, measured with iperf3 (a C sender and receiver, so the
 * load generator is never the bottleneck of a Node proxy path). The iperf3 server listens on the
 * peer's upstream address, the client binds the peer's client address and connects to the
 * peer's target; the first second is omitted (slow start, pool warm-up) and the receiver's
 * figure is reported. iperf3's control connection goes through the same path.
 */
import { err, ok, type Result } from "../../src/common/result.js";
import { spawnChild, stopChild, waitChild, waitForOutput } from "../proc.js";
import type { HostPort } from "../peers/peer.js";

export interface ThroughputResult {
  /** Receiver-side goodput in bits per second. */
  readonly bitsPerSecond: number;
  /** Sender retransmits reported by iperf3 (loopback: normally 0). */
  readonly retransmits: number;
  /** Each round's rate, to show how much the figure moved during the run. */
  readonly roundBitsPerSecond: readonly number[];
}

/** Pools rounds of equal length: the mean rate. */
export function mergeThroughput(rounds: readonly ThroughputResult[]): ThroughputResult {
  const rates = rounds.flatMap((r) => r.roundBitsPerSecond);
  return {
    bitsPerSecond: rates.length ? rates.reduce((a, b) => a + b, 0) / rates.length : 0,
    retransmits: rounds.reduce((a, r) => a + r.retransmits, 0),
    roundBitsPerSecond: rates,
  };
}

export interface ThroughputOptions {
  readonly target: HostPort;
  readonly clientAddress: string;
  readonly upstream: HostPort;
  readonly seconds: number;
}

export async function measureThroughput(o: ThroughputOptions): Promise<Result<ThroughputResult>> {
  const server = spawnChild("iperf3 server", "iperf3", ["-s", "-1", "--forceflush", "-B", o.upstream.host, "-p", String(o.upstream.port)]);
  if (!server.ok) return server;
  try {
    // Not a TCP probe: with -1 iperf3 would take the probe for its one client and exit.
    const up = await waitForOutput(server.value, /Server listening on/);
    if (!up.ok) return up;
    const args = [
      "-c",
      o.target.host,
      "-p",
      String(o.target.port),
      "-B",
      o.clientAddress,
      "-t",
      String(o.seconds + 1),
      "-O",
      "1",
      "-J",
      "--connect-timeout",
      "5000",
    ];
    const client = spawnChild("iperf3 client", "iperf3", args, { keepStdout: true });
    if (!client.ok) return client;
    const inTime = await waitChild(client.value, (o.seconds + 20) * 1000);
    if (!inTime) return err(new Error(`throughput: iperf3 client did not finish within ${o.seconds + 20} s`));
    return parseIperfJson(client.value.stdout(), client.value.output());
  } finally {
    await stopChild(server.value);
  }
}

/** Extracts the receiver's rate from `iperf3 -J` output; iperf3 reports its own errors in "error". */
export function parseIperfJson(stdout: string, tail: string): Result<ThroughputResult> {
  let doc: unknown;
  try {
    doc = JSON.parse(stdout);
  } catch {
    return err(new Error(`throughput: iperf3 gave no JSON result: ${tail.trim().slice(-500)}`));
  }
  const d = doc as { error?: string; end?: { sum_received?: { bits_per_second?: number }; sum_sent?: { retransmits?: number } } };
  if (typeof d.error === "string") return err(new Error(`throughput: iperf3: ${d.error}`));
  const bps = d.end?.sum_received?.bits_per_second;
  if (typeof bps !== "number" || !(bps > 0)) return err(new Error("throughput: iperf3 JSON has no end.sum_received.bits_per_second"));
  return ok({ bitsPerSecond: bps, retransmits: d.end?.sum_sent?.retransmits ?? 0, roundBitsPerSecond: [bps] });
}
