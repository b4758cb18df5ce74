/**
 * What a benchmarked path looks like to the load generators: a place the client connects to
 * (from a fixed source address), a place the upstream server must listen on, and the proxy
 * processes whose memory is measured. Direct TCP, stunnel and weft's ztunnel each implement
 * `Peer`; the load generators never know which one they drive, so every figure in a row is
 * produced by the same client and server code.
 */
import type { Result } from "../../src/common/result.js";

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

export interface ProxyProcess {
  /** Role shown in the report, e.g. "client-side stunnel", "ztunnel node-a". */
  readonly role: string;
  readonly pid: number;
}

export interface RunningPeer {
  /** Where load generators connect (plaintext). */
  readonly target: HostPort;
  /** Source address load generators bind before connecting (the mesh identifies workloads by it). */
  readonly clientAddress: string;
  /** Where the upstream server (iperf3 -s or the echo server) must listen. */
  readonly upstream: HostPort;
  /** Proxy processes on the path, empty for direct TCP. */
  readonly proxies: readonly ProxyProcess[];
  /** A one-line description of the path for the report (versions, TLS settings). */
  readonly description: string;
  /**
   * Whether the proxies must be checked before each phase: returns an error naming the process
   * that has died, so a crash is reported instead of being measured as a slow peer.
   */
  check(): Result<void>;
  /**
   * After the run, evidence from the proxies themselves that the traffic took the intended path
   * (e.g. a mutual-TLS connection counter), as a sentence for the report; an error when the
   * evidence contradicts it. Absent for paths with nothing to ask.
   */
  verify?(): Promise<Result<string>>;
  /** Stops every process of the peer and removes its files. Idempotent. */
  stop(): Promise<void>;
}

export interface Peer {
  /** Short id used in tables and env filters: "direct", "stunnel", "ztunnel". */
  readonly name: string;
  /** Starts the path; an error says what is missing or what failed, with the process output. */
  start(): Promise<Result<RunningPeer>>;
}
