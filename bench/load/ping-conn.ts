/**
 * One verified connection: connect from `localAddress`, send one byte, wait for its echo. A
 * proxy accepts the client's TCP connection before it has reached the server, so only the echo
 * proves the whole path (TLS handshakes, tunnel set-up, upstream connect) is established. Used
 * by the connection-rate phase (then closed) and the open-connections phase (then held).
 */
import type { Socket } from "node:net";
import { err, ok, type Result } from "../../src/common/result.js";
import type { HostPort } from "../peers/peer.js";
import { dial } from "./dial.js";

const PING = Buffer.from([0x2a]);

export async function pingConnection(target: HostPort, localAddress: string, timeoutMs: number): Promise<Result<Socket>> {
  const t0 = Date.now();
  const dialed = await dial(target, localAddress, timeoutMs);
  if (!dialed.ok) return dialed;
  const sock = dialed.value;
  return new Promise((resolve) => {
    let settled = false;
    const finish = (r: Result<Socket>): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.removeListener("data", onData);
      if (!r.ok) sock.destroy();
      resolve(r);
    };
    const timer = setTimeout(() => finish(err(new Error(`no echo within ${timeoutMs} ms`))), Math.max(1, timeoutMs - (Date.now() - t0)));
    const onData = (chunk: Buffer): void => {
      if (chunk.length > 0) finish(ok(sock));
    };
    sock.on("data", onData);
    // Kept for the socket's whole life: a reset of a held connection must not crash the bench.
    sock.on("error", (e) => finish(err(e)));
    sock.once("end", () => finish(err(new Error("closed by the path before the echo"))));
    sock.write(PING);
  });
}
