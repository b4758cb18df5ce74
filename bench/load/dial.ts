/**
 * Outgoing connections from a fixed source address, with the source port chosen here.
 *
 * The mesh identifies a client workload by its source IP, so every load generator binds one.
 * Left to the kernel, a bind() before connect() picks a port without knowing the destination
 * and so can never reuse a port that a TIME_WAIT socket still holds: after a few thousand
 * short connections from one address, port search makes connect rates collapse by 10x (measured
 * here: 2000/s -> 200/s). Choosing the port ourselves, cycling through a wide range, lets
 * connect() reuse TIME_WAIT tuples (net.ipv4.tcp_tw_reuse, on for loopback by default) as it
 * does for unbound sockets. A port that is taken (EADDRINUSE: a listener; EADDRNOTAVAIL: a live
 * connection with the same four-tuple) is skipped.
 *
 * The range lies below the kernel's ephemeral range (net.ipv4.ip_local_port_range, 32768-60999 by
 * default), which stays for programs that bind port 0 from the same address: iperf3's client
 * (`-B`) does, and after a connection-rate phase had left every port of that range in TIME_WAIT
 * it failed with "Address already in use" (direct TCP at ~12,000 connections/s fills it in 3 s).
 */
import { connect, type Socket } from "node:net";
import { err, ok, type Result } from "../../src/common/result.js";
import type { HostPort } from "../peers/peer.js";

const FIRST_PORT = 1_024;
const LAST_PORT = 32_767;
const MAX_ATTEMPTS = 32;

const nextPort = new Map<string, number>();

function takePort(localAddress: string): number {
  const p = nextPort.get(localAddress) ?? FIRST_PORT + Math.floor(Math.random() * (LAST_PORT - FIRST_PORT));
  nextPort.set(localAddress, p >= LAST_PORT ? FIRST_PORT : p + 1);
  return p;
}

const PORT_TAKEN = new Set(["EADDRINUSE", "EADDRNOTAVAIL"]);

/** Connects to `target` from `localAddress`, TCP_NODELAY on; fails after `timeoutMs`. */
export async function dial(target: HostPort, localAddress: string, timeoutMs: number): Promise<Result<Socket>> {
  let last: Error | null = null;
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const r = await dialOnce(target, localAddress, takePort(localAddress), timeoutMs);
    if (r.ok) return r;
    last = r.error;
    if (!PORT_TAKEN.has((r.error as NodeJS.ErrnoException).code ?? "")) return r;
  }
  return err(new Error(`no free source port on ${localAddress} after ${MAX_ATTEMPTS} tries: ${last?.message ?? ""}`));
}

function dialOnce(target: HostPort, localAddress: string, localPort: number, timeoutMs: number): Promise<Result<Socket>> {
  return new Promise((resolve) => {
    const sock = connect({ host: target.host, port: target.port, localAddress, localPort, noDelay: true });
    const timer = setTimeout(() => {
      sock.destroy();
      resolve(err(new Error(`connect to ${target.host}:${target.port} timed out after ${timeoutMs} ms`)));
    }, timeoutMs);
    const onError = (e: Error): void => {
      clearTimeout(timer);
      resolve(err(e));
    };
    sock.once("error", onError);
    sock.once("connect", () => {
      clearTimeout(timer);
      sock.removeListener("error", onError);
      resolve(ok(sock));
    });
  });
}
