/**
 * Shared set-up for the HBONE integration tests: a real test PKI (test/support/pki.ts), an
 * HboneServer on 127.0.20.1 whose default handler connects to the CONNECT target on loopback
 * (503 when that fails), TCP upstreams (echo and scripted), and helpers to read streams fully.
 * Everything listens on 127.0.20.0/24 with ephemeral ports.
 */
import net from "node:net";
import { after, before } from "node:test";
import type { Duplex } from "node:stream";
import { makeTestPki, type TestPki } from "../support/pki.js";
import type { WorkloadCertificate } from "../../src/common/tls/types.js";
import type { SocketAddress } from "../../src/common/net/addr.js";
import type { HboneDecision, HboneHandler, HboneStreamRequest } from "../../src/proxy/hbone/server.js";
import { type HboneInboundServer, ZTUNNEL_DEFAULT_ENGINE, createHboneServer } from "../../src/proxy/hbone/engine.js";
import { testEngine } from "../support/engine.js";
import type { HboneSettings } from "../../src/proxy/hbone/settings.js";
import { type OutboundTunnel, createHbonePool } from "../../src/proxy/hbone/engine.js";
import { NativeTunnel } from "../../src/proxy/hbone/native-client.js";
import type { HbonePool, PoolObserver } from "../../src/proxy/hbone/pool.js";

export const SERVER_IP = "127.0.20.1";
export const UPSTREAM_IP = "127.0.20.2";
export const CLIENT_IP = "127.0.20.5";

/** The engine the HBONE server fixtures run on: WEFT_HBONE_ENGINE=native|node (default: the ztunnel's). */
export const TEST_ENGINE = testEngine(ZTUNNEL_DEFAULT_ENGINE);

let pkiPromise: Promise<TestPki> | undefined;
/** One PKI per test file (key generation is the slow part). */
export function testPki(): Promise<TestPki> {
  pkiPromise ??= makeTestPki({ trustDomain: "cluster.local", intermediate: true });
  return pkiPromise;
}

/** Connects to the CONNECT target; refused/unreachable is 503, as upstream ztunnel answers. */
export async function connectToTarget(req: HboneStreamRequest): Promise<HboneDecision> {
  return new Promise((resolve) => {
    const s = net.connect({ host: req.target.ip, port: req.target.port, allowHalfOpen: true });
    s.once("connect", () => {
      s.removeAllListeners("error");
      resolve({ kind: "tunnel", upstream: s });
    });
    s.once("error", (e) => resolve({ kind: "reject", status: 503, reason: `upstream connect: ${e.message}` }));
  });
}

export interface ServerFixture {
  readonly server: HboneInboundServer;
  readonly address: SocketAddress;
  readonly cert: WorkloadCertificate;
  /** Handler calls seen so far. */
  readonly calls: HboneStreamRequest[];
  setHandler(h: HboneHandler): void;
}

export async function startServer(opts: {
  cert: WorkloadCertificate;
  trustDomains?: readonly string[];
  settings?: Partial<HboneSettings>;
  ip?: string;
  /** Overrides the default "opts.cert on `ip`, nothing elsewhere" certificate lookup. */
  certificateFor?: (localIp: string) => WorkloadCertificate | undefined;
  awaitCertificateFor?: (localIp: string) => Promise<WorkloadCertificate | undefined> | undefined;
  illegalPorts?: readonly number[];
}): Promise<ServerFixture> {
  const ip = opts.ip ?? SERVER_IP;
  const calls: HboneStreamRequest[] = [];
  let handler: HboneHandler = connectToTarget;
  const server = createHboneServer(
    {
      certificateFor: opts.certificateFor ?? ((local) => (local === ip ? opts.cert : undefined)),
      ...(opts.awaitCertificateFor ? { awaitCertificateFor: opts.awaitCertificateFor } : {}),
      trustDomains: opts.trustDomains ?? ["cluster.local"],
      handler: (req) => {
        calls.push(req);
        return handler(req);
      },
      ...(opts.settings ? { settings: opts.settings } : {}),
      ...(opts.illegalPorts ? { illegalPorts: opts.illegalPorts } : {}),
    },
    TEST_ENGINE,
  );
  const address = await server.listen(ip, 0);
  return { server, address, cert: opts.cert, calls, setHandler: (h) => (handler = h) };
}

/** A TCP server on UPSTREAM_IP running `onSocket` per connection (half-open allowed). */
export async function startTcp(
  onSocket: (s: net.Socket) => void,
): Promise<{ address: SocketAddress; close(): Promise<void>; sockets: Set<net.Socket> }> {
  const sockets = new Set<net.Socket>();
  const srv = net.createServer({ allowHalfOpen: true }, (s) => {
    sockets.add(s);
    s.on("error", () => {});
    s.once("close", () => sockets.delete(s));
    onSocket(s);
  });
  await new Promise<void>((r) => srv.listen(0, UPSTREAM_IP, r));
  const port = (srv.address() as net.AddressInfo).port;
  return {
    address: { ip: UPSTREAM_IP, port },
    sockets,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        srv.close(() => r());
      }),
  };
}

export const echo = (s: net.Socket) => s.pipe(s);

/** Reads a stream to its end; resolves with everything it produced. */
export function readAll(d: Duplex): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    d.on("data", (c: Buffer) => chunks.push(c));
    d.once("end", () => resolve(Buffer.concat(chunks)));
    d.once("error", reject);
  });
}

/** Polls `cond` until true or `ms` elapsed; returns the last value. */
export async function eventually(cond: () => boolean, ms = 3_000): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 10));
  }
  return cond();
}

/** What most client-and-server tests start from: the two workloads' certificates and an echo upstream. */
export interface ClientServerEcho {
  readonly serverCert: WorkloadCertificate;
  readonly clientCert: WorkloadCertificate;
  readonly echoUp: Awaited<ReturnType<typeof startTcp>>;
}

/** Registers before/after hooks that fill in (and close) a ClientServerEcho; read it inside tests. */
export function withClientServerEcho(): ClientServerEcho {
  const ctx = {} as { -readonly [K in keyof ClientServerEcho]: ClientServerEcho[K] };
  before(async () => {
    const pki = await testPki();
    ctx.serverCert = await pki.certFor("default", "server");
    ctx.clientCert = await pki.certFor("default", "client");
    ctx.echoUp = await startTcp(echo);
  });
  after(async () => {
    await ctx.echoUp?.close();
  });
  return ctx;
}

/** The outbound pool on TEST_ENGINE (WEFT_HBONE_ENGINE=native: the native client). */
export function testPool(settings?: Partial<HboneSettings>, observer?: PoolObserver): HbonePool<OutboundTunnel> {
  return createHbonePool(settings, TEST_ENGINE, observer);
}

const nativeOf = new WeakMap<Duplex, NativeTunnel>();

/** A pool tunnel as a Duplex: Node's stream itself, or a native tunnel spliced with a socket pair. */
export function tunnelDuplex(t: OutboundTunnel): Duplex {
  if (!(t instanceof NativeTunnel)) return t;
  const d = t.duplex();
  nativeOf.set(d, t);
  return d;
}

/** Resets a tunnel from the client side (RST_STREAM(CANCEL)). */
export function resetTunnel(d: Duplex): void {
  const n = nativeOf.get(d);
  if (n) n.destroy();
  else (d as unknown as { close(code: number): void }).close(0x8);
}

/** The HTTP/2 code a tunnel's stream ended with (0 = a clean end). */
export function tunnelRstCode(d: Duplex): number {
  return nativeOf.get(d)?.rstCode ?? (d as unknown as { rstCode?: number }).rstCode ?? 0;
}
