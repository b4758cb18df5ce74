/**
 * A small process the capture tests start inside a network namespace (pod or node) and drive
 * over JSON lines on stdin/stdout. In a pod it runs plain servers and clients; in the node it is
 * the test's ztunnel: real transparent listeners from the addon on the capture ports, which
 * record every accepted socket's local (= original destination) and remote address, and relay
 * to the original destination over a transparent, ztunnel-marked socket that keeps the client's
 * source IP (so the relay itself must not be captured again). Not a fake: the sockets and the
 * kernel paths are the production ones; only the HBONE listener answers a fixed line. With
 * WEFT_HBONE_ENGINE=native the capture listeners and the relay's dial are the native engine's
 * (NativeListener's transparent accept and TransparentDialer.dialFd, both in the addon; the
 * descriptors are then wrapped in Node sockets only to relay), so the same table runs on both.
 *
 * Requests:  {"id":1,"op":"listen","port":80}
 *            {"id":2,"op":"connect","host":"198.19.1.3","port":80,"timeoutMs":1500}
 *            {"id":3,"op":"ztunnel","ports":[15001,15006,15008],"hbone":15008,"mark":1337}
 *            {"id":4,"op":"ztunnelDown"}      {"id":5,"op":"events"}
 *            {"id":6,"op":"dnsServer","port":15053}   (node: answers every A query with 198.19.9.9)
 *            {"id":7,"op":"resolve","host":"198.19.7.53","name":"svc.test","timeoutMs":1500}
 *              (pod: Node's resolver asking that nameserver; it accepts only answers from there)
 * Replies:   {"id":1,"ok":true,"value":...} | {"id":1,"ok":false,"error":"ECONNREFUSED: ..."}
 */
import * as net from "node:net";
import * as dgram from "node:dgram";
import { Resolver } from "node:dns/promises";
import dnsPacket from "dns-packet";
import { connectTransparent, listenTransparent } from "../../src/common/native/native.js";
import { NativeListener, socketFromFd } from "../../src/proxy/transport/native-listener.js";
import { TransparentDialer } from "../../src/proxy/transport/dialer.js";
import { ZTUNNEL_DEFAULT_ENGINE } from "../../src/proxy/hbone/engine.js";
import { testEngine } from "../support/engine.js";
import { serveJsonLines } from "../support/json-lines-agent.js";

/** The native engine's accept and upstream dial (WEFT_HBONE_ENGINE, default the ztunnel's), or Node's sockets. */
const NATIVE = testEngine(ZTUNNEL_DEFAULT_ENGINE) === "native";

interface Event {
  readonly kind: "accepted";
  readonly listener: number;
  readonly local: string;
  readonly remote: string;
}

const name = process.argv[2] ?? "agent";
const events: Event[] = [];
const servers = new Map<number, net.Server>();
let ztunnel: Array<net.Server | NativeListener> = [];

/** `ip:port`, `[ipv6]:port`; IPv4-mapped addresses of dual-stack servers folded to IPv4. */
const addr = (ip: string | undefined, port: number | undefined): string => {
  const a = (ip ?? "?").replace(/^::ffff:/, "");
  return a.includes(":") ? `[${a}]:${port ?? 0}` : `${a}:${port ?? 0}`;
};

async function listen(port: number): Promise<void> {
  if (servers.has(port)) return;
  const server = net.createServer((s) => {
    events.push({
      kind: "accepted",
      listener: port,
      local: addr(s.localAddress, s.localPort),
      remote: addr(s.remoteAddress, s.remotePort),
    });
    s.on("error", () => undefined);
    s.end(`${name} saw ${addr(s.remoteAddress, s.remotePort)}\n`);
  });
  // "::" takes both families (IPv4 peers appear as ::ffff:a.b.c.d); IPv4 only if IPv6 is off.
  const v6 = await new Promise<boolean>((resolve) => {
    server.once("error", () => resolve(false));
    server.listen({ port, host: "::" }, () => resolve(true));
  });
  if (!v6)
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen({ port, host: "0.0.0.0" }, resolve);
    });
  servers.set(port, server);
}

function connect(host: string, port: number, timeoutMs: number): Promise<{ ok: boolean; data?: string; error?: string }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const s = net.connect({ host, port });
    const done = (r: { ok: boolean; data?: string; error?: string }): void => {
      clearTimeout(timer);
      s.destroy();
      resolve(r);
    };
    const timer = setTimeout(() => done({ ok: false, error: "ETIMEDOUT" }), timeoutMs);
    s.on("data", (d: Buffer) => chunks.push(d));
    s.on("end", () => done({ ok: true, data: Buffer.concat(chunks).toString() }));
    s.on("error", (e: NodeJS.ErrnoException) => done({ ok: false, error: e.code ?? e.message }));
  });
}

/** The test's ztunnel: relays captured connections to their original destination. */
function onCaptured(listener: number, hbone: number, mark: number, s: net.Socket): void {
  const local = { ip: (s.localAddress ?? "").replace(/^::ffff:/, ""), port: s.localPort ?? 0 };
  const remote = { ip: (s.remoteAddress ?? "").replace(/^::ffff:/, ""), port: s.remotePort ?? 0 };
  events.push({ kind: "accepted", listener, local: addr(local.ip, local.port), remote: addr(remote.ip, remote.port) });
  s.on("error", () => undefined);
  if (listener === hbone) {
    s.end("hbone\n");
    return;
  }
  s.pause();
  void dialTransparent(remote.ip, local, mark).then((up) => {
    if (!up.ok) {
      s.end(`relay failed: ${up.error.code}\n`);
      return;
    }
    up.value.on("error", () => s.destroy());
    s.write("via ztunnel: ");
    up.value.pipe(s);
    s.pipe(up.value);
    s.resume();
  });
}

/** The relay's upstream: from the client's IP, transparent and marked; the errno as `code`. */
async function dialTransparent(
  sourceIp: string,
  destination: { ip: string; port: number },
  mark: number,
): Promise<{ ok: true; value: net.Socket } | { ok: false; error: { code?: string } }> {
  if (!NATIVE) return connectTransparent({ source: { ip: sourceIp }, destination, mark, timeoutMs: 2000, allowHalfOpen: true });
  const r = await new TransparentDialer({ mark, timeoutMs: 2000, spoofSource: true }).dialFd({ target: destination, sourceIp });
  if (!r.ok) return { ok: false, error: { code: (r.error.cause as { code?: string } | undefined)?.code ?? r.error.message } };
  return { ok: true, value: r.value.toSocket() };
}

/** A native transparent capture listener (the native engine's outbound capture accept), or undefined without IPv6. */
function listenNative(host: string, port: number, hbone: number, mark: number): NativeListener | undefined {
  const n = NativeListener.listen({ host, port, transparent: { mark } }, (fd) => onCaptured(port, hbone, mark, socketFromFd(fd)));
  if (n.ok) return n.value;
  if (host === "::" && (n.error.code === "EAFNOSUPPORT" || n.error.code === "EADDRNOTAVAIL")) return undefined;
  throw n.error;
}

async function startZtunnel(ports: number[], hbone: number, mark: number): Promise<void> {
  if (ztunnel.length > 0) return;
  if (NATIVE) {
    for (const port of ports)
      for (const host of ["0.0.0.0", "::"]) {
        const n = listenNative(host, port, hbone, mark);
        if (n) ztunnel.push(n);
      }
    return;
  }
  // As ztunnel: one IPv4 and one IPv6 (v6-only) listener per port; the IPv6 one only if the namespace has IPv6.
  for (const port of ports) {
    const srv = await listenTransparent({ host: "0.0.0.0", port, mark, allowHalfOpen: true }, (s) => onCaptured(port, hbone, mark, s));
    if (!srv.ok) throw srv.error;
    ztunnel.push(srv.value);
    const srv6 = await listenTransparent({ host: "::", port, mark, allowHalfOpen: true }, (s) => onCaptured(port, hbone, mark, s));
    if (srv6.ok) ztunnel.push(srv6.value);
    else if (srv6.error.code !== "EAFNOSUPPORT" && srv6.error.code !== "EADDRNOTAVAIL") throw srv6.error;
  }
}

async function stopZtunnel(): Promise<void> {
  await Promise.all(
    ztunnel.map((s) => (s instanceof NativeListener ? s.close() : new Promise<void>((resolve) => s.close(() => resolve())))),
  );
  ztunnel = [];
}

/** Bench support: a server that counts bytes and answers the count when the client ends. */
async function sink(port: number): Promise<void> {
  // allowHalfOpen: the count is written after the client's FIN.
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    let n = 0;
    s.on("data", (d: Buffer) => (n += d.length));
    s.on("end", () => s.end(`${n}\n`));
    s.on("error", () => undefined);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen({ port, host: "0.0.0.0" }, resolve);
  });
  servers.set(port, server);
}

/** Bench support: an explicit (non-capturing) relay to a fixed target, the userspace baseline. */
async function proxy(port: number, host: string, targetPort: number): Promise<void> {
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    const up = net.connect({ host, port: targetPort, allowHalfOpen: true });
    s.pipe(up).pipe(s);
    up.on("error", () => s.destroy());
    s.on("error", () => up.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen({ port, host: "0.0.0.0" }, resolve);
  });
  servers.set(port, server);
}

/** Bench support: `count` sequential connections, each until the server's greeting ends; ms each. */
async function rtt(host: string, port: number, count: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    const t0 = process.hrtime.bigint();
    const r = await connect(host, port, 3000);
    if (!r.ok) throw new Error(`rtt: ${r.error}`);
    out.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return out;
}

/** Bench support: sends `bytes` on one connection, waits for the sink's count; returns ms. */
function bulk(host: string, port: number, bytes: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const chunk = Buffer.alloc(256 * 1024, 0x61);
    const t0 = process.hrtime.bigint();
    const s = net.connect({ host, port });
    let sent = 0;
    let reply = "";
    const pump = (): void => {
      while (sent < bytes) {
        sent += chunk.length;
        if (!s.write(chunk)) return void s.once("drain", pump);
      }
      s.end();
    };
    s.on("connect", pump);
    s.on("data", (d: Buffer) => (reply += d.toString()));
    s.on("end", () => {
      const n = Number(/(\d+)\n$/.exec(reply)?.[1]);
      if (n !== sent) reject(new Error(`bulk: sink counted ${n} (${JSON.stringify(reply.slice(-80))}), sent ${sent}`));
      else resolve(Number(process.hrtime.bigint() - t0) / 1e6);
    });
    s.on("error", reject);
  });
}

interface Request {
  id: number;
  op: string;
  port?: number;
  host?: string;
  timeoutMs?: number;
  ports?: number[];
  hbone?: number;
  mark?: number;
  targetPort?: number;
  count?: number;
  bytes?: number;
  name?: string;
}

/** The node's DNS stand-in for ztunnel's proxy: a real UDP DNS server; records each query's source. */
async function dnsServer(port: number, v6 = true): Promise<void> {
  // "::" takes both families (as ztunnel's DNS proxy in capture mode); 0.0.0.0 without IPv6.
  const sock = dgram.createSocket(v6 ? "udp6" : "udp4");
  sock.on("message", (msg, rinfo) => {
    const q = dnsPacket.decode(msg);
    const question = q.questions![0]!;
    events.push({ kind: "accepted", listener: port, local: `dns:${question.name}`, remote: addr(rinfo.address, rinfo.port) });
    const reply = dnsPacket.encode({
      type: "response",
      id: q.id ?? 0,
      flags: dnsPacket.AUTHORITATIVE_ANSWER,
      questions: [question],
      answers: [{ type: "A", name: question.name, ttl: 5, data: "198.19.9.9" }],
    });
    sock.send(reply, rinfo.port, rinfo.address);
  });
  const bound = await new Promise<boolean>((resolve) => {
    sock.once("error", () => resolve(false));
    sock.bind(port, v6 ? "::" : "0.0.0.0", () => resolve(true));
  });
  if (!bound) {
    sock.close();
    if (v6) return dnsServer(port, false);
    throw new Error(`dns server: cannot bind port ${port}`);
  }
}

async function resolveName(host: string, name: string, timeoutMs: number): Promise<{ ok: boolean; addresses?: string[]; error?: string }> {
  const r = new Resolver({ timeout: timeoutMs, tries: 1 });
  r.setServers([host]);
  try {
    return { ok: true, addresses: await r.resolve4(name) };
  } catch (e) {
    return { ok: false, error: (e as NodeJS.ErrnoException).code ?? String(e) };
  }
}

async function handle(req: Request): Promise<unknown> {
  switch (req.op) {
    case "listen":
      return listen(req.port!);
    case "connect":
      return connect(req.host!, req.port!, req.timeoutMs ?? 1500);
    case "ztunnel":
      return startZtunnel(req.ports!, req.hbone!, req.mark!);
    case "ztunnelDown":
      return stopZtunnel();
    case "sink":
      return sink(req.port!);
    case "proxy":
      return proxy(req.port!, req.host!, req.targetPort!);
    case "rtt":
      return rtt(req.host!, req.port!, req.count!);
    case "bulk":
      return bulk(req.host!, req.port!, req.bytes!);
    case "events":
      return events.splice(0, events.length);
    case "dnsServer":
      return dnsServer(req.port!);
    case "resolve":
      return resolveName(req.host!, req.name!, req.timeoutMs ?? 1500);
    default:
      throw new Error(`unknown op ${req.op}`);
  }
}

serveJsonLines(handle);
