/**
 * A minimal SOCKS5 client for tests and benchmarks: connects from a chosen local address (the
 * source workload's IP on loopback) through a ztunnel's SOCKS5 listener. Resolves with the
 * connected socket, or rejects with the SOCKS reply code.
 */
import net from "node:net";
import { once } from "node:events";

export class SocksError extends Error {
  constructor(readonly reply: number) {
    super(`socks5: server replied ${reply}`);
  }
}

export function socksConnect(opts: {
  proxy: { host: string; port: number };
  localAddress?: string;
  target: { host: string; port: number };
}): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({
      host: opts.proxy.host,
      port: opts.proxy.port,
      allowHalfOpen: true,
      ...(opts.localAddress ? { localAddress: opts.localAddress } : {}),
    });
    let buf = Buffer.alloc(0);
    let phase = 0;
    const fail = (e: Error) => {
      s.destroy();
      reject(e);
    };
    s.once("error", fail);
    s.once("connect", () => {
      const t = opts.target;
      const isV4 = net.isIPv4(t.host);
      const addr = isV4
        ? Buffer.from([1, ...t.host.split(".").map(Number)])
        : Buffer.concat([Buffer.from([3, Buffer.byteLength(t.host)]), Buffer.from(t.host)]);
      const port = Buffer.alloc(2);
      port.writeUInt16BE(t.port);
      s.write(Buffer.concat([Buffer.from([5, 1, 0]), Buffer.from([5, 1, 0]), addr, port]));
    });
    const onData = (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (phase === 0 && buf.length >= 2) {
        if (buf[1] !== 0) return fail(new SocksError(255));
        buf = buf.subarray(2);
        phase = 1;
      }
      if (phase === 1 && buf.length >= 10) {
        s.off("data", onData);
        s.off("error", fail);
        if (buf[1] !== 0) return fail(new SocksError(buf[1]!));
        const rest = buf.subarray(10);
        if (rest.length) s.unshift(rest);
        resolve(s);
      }
    };
    s.on("data", onData);
    s.once("end", () => {
      if (phase < 2) fail(new Error("socks5: connection closed during handshake"));
    });
  });
}

/** Sends `payload`, half-closes, and returns everything the peer sent until it closed its side. */
export async function exchange(s: net.Socket, payload: string): Promise<string> {
  const chunks: Buffer[] = [];
  s.on("data", (d: Buffer) => chunks.push(d));
  s.end(payload);
  await once(s, "end");
  s.destroy();
  return Buffer.concat(chunks).toString();
}
