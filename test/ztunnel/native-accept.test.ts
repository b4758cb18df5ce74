/**
 * The native engine's outbound accept (docs/hbone.md "Client side", the accept): node-a's
 * outbound listeners accept in the addon and the tunnel attaches the accepted fd, so no Node
 * socket (TCP handle) is made per application connection. Two in-process ztunnels on loopback
 * (127.0.68.0/24), node-a on the native engine whatever WEFT_HBONE_ENGINE says (node-b follows
 * it), real client sockets on the outbound listeners. Needs no root.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { once } from "node:events";
import { createHash, randomBytes } from "node:crypto";
import { createHook } from "node:async_hooks";
import { CertificateAuthority } from "../../src/ca/ca.js";
import { LocalCaClient } from "../../src/proxy/identity/ca-client.js";
import { Ztunnel } from "../../src/ztunnel/ztunnel.js";
import { staticZtunnelConfig } from "../support/ztunnel-config.js";
import { service, workload } from "../support/model.js";
import { isRoot } from "../support/netns.js";
import { socketOptions } from "../../src/common/native/native.js";
import { NativeListener, resetFd } from "../../src/proxy/transport/native-listener.js";

const CLIENT = "127.0.68.11";
const POD = "127.0.68.21";
const PLAIN = "127.0.68.31";
const VIP = { echo: "127.0.68.100", reset: "127.0.68.101", plain: "127.0.68.102", nowhere: "127.0.68.103" };
const SVC = "default/echo.default.svc.cluster.local";
const workloads = [
  workload({ name: "sleep", addresses: [CLIENT], node: "node-a" }),
  workload({
    name: "echo",
    addresses: [POD],
    node: "node-b",
    services: {
      [SVC]: [{ servicePort: 80, targetPort: 8080 }],
      "default/reset.default.svc.cluster.local": [{ servicePort: 80, targetPort: 8081 }],
    },
  }),
  // Not in the mesh: passthrough (the one outbound path that wraps the fd in a Node socket).
  workload({
    name: "plain",
    addresses: [PLAIN],
    node: "node-b",
    tunnelProtocol: "NONE",
    services: { "default/plain.default.svc.cluster.local": [{ servicePort: 80, targetPort: 9090 }] },
  }),
];
const services = [
  service({ name: "echo", vips: [VIP.echo], ports: [{ servicePort: 80, targetPort: 8080 }] }),
  service({ name: "reset", vips: [VIP.reset], ports: [{ servicePort: 80, targetPort: 8081 }] }),
  service({ name: "plain", vips: [VIP.plain], ports: [{ servicePort: 80, targetPort: 9090 }] }),
  // A service with no endpoint: the route is refused.
  service({ name: "nowhere", vips: [VIP.nowhere], ports: [{ servicePort: 80, targetPort: 8080 }] }),
];
const listeners = Object.values(VIP).map((ip) => ({ ip, port: 80 }));

let za: Ztunnel, zb: Ztunnel;
const servers: net.Server[] = [];

/** TCP handles created for connections accepted by one of node-a's server handles, counted. */
const serverHandles = new Set<number>();
let recordingServers = false;
let acceptedHandles = 0;
const hook = createHook({
  init(id, type, trigger) {
    if (type === "TCPSERVERWRAP" && recordingServers) serverHandles.add(id);
    else if (type === "TCPWRAP" && serverHandles.has(trigger)) acceptedHandles++;
  },
});

function serve(ip: string, port: number, onSocket: (s: net.Socket) => void): Promise<void> {
  const srv = net.createServer({ allowHalfOpen: true }, (s) => {
    s.on("error", () => {});
    onSocket(s);
  });
  servers.push(srv);
  srv.listen(port, ip);
  return once(srv, "listening").then(() => undefined);
}

before(async () => {
  hook.enable();
  const ca = await CertificateAuthority.createSelfSigned({ trustDomain: "cluster.local" });
  assert.ok(ca.ok);
  const client = new LocalCaClient(ca.value);
  za = new Ztunnel(
    staticZtunnelConfig("node-a", "127.0.68.1", { workloads, services }, { outboundListeners: listeners, hboneEngine: "native" }),
    { caClient: client, rootsPem: client.rootsPem },
  );
  zb = new Ztunnel(staticZtunnelConfig("node-b", "127.0.68.2", { workloads, services }), { caClient: client, rootsPem: client.rootsPem });
  recordingServers = true;
  const ra = await za.start();
  recordingServers = false;
  assert.ok(ra.ok, !ra.ok ? ra.error.message : "");
  const rb = await zb.start();
  assert.ok(rb.ok, !rb.ok ? rb.error.message : "");
  // Half-closing echo: answers what it read, then ends after the client's FIN.
  await serve(POD, 8080, (s) => s.pipe(s));
  await serve(POD, 8081, (s) => s.once("data", () => s.resetAndDestroy()));
  await serve(PLAIN, 9090, (s) => s.pipe(s));
});

after(async () => {
  hook.disable();
  for (const s of servers) s.close();
  await Promise.all([za?.stop(), zb?.stop()]);
});

function connect(ip: string, from = CLIENT): Promise<net.Socket> {
  const s = net.connect({ host: ip, port: 80, localAddress: from, allowHalfOpen: true });
  return once(s, "connect").then(() => s);
}

/** A connection whose refusal may come before Node reports it connected (`connect ECONNRESET`). */
function dial(ip: string, from = CLIENT): net.Socket {
  return net.connect({ host: ip, port: 80, localAddress: from, allowHalfOpen: true });
}

/** Sends `payload`, half-closes, and collects what comes back until the other side's FIN. */
async function echoRound(s: net.Socket, payload: Buffer): Promise<Buffer> {
  const chunks: Buffer[] = [];
  s.on("data", (d: Buffer) => chunks.push(d));
  const ended = once(s, "end");
  s.end(payload);
  await ended;
  return Buffer.concat(chunks);
}

type Ending = { kind: "end" } | { kind: "error"; code: string | undefined };

function ending(s: net.Socket, timeoutMs = 5_000): Promise<Ending> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error("the client's connection did not end")), timeoutMs);
    s.once("end", () => (clearTimeout(t), resolve({ kind: "end" })));
    s.once("error", (e: NodeJS.ErrnoException) => (clearTimeout(t), resolve({ kind: "error", code: e.code })));
    s.resume();
  });
}

/** Sums a counter of node-a's registry over its reporter="source" series. */
async function sourceCounter(name: string): Promise<number> {
  let sum = 0;
  for (const line of (await za.metrics.registry.metrics()).split("\n")) {
    if (line.startsWith(`${name}{`) && line.includes('reporter="source"')) sum += Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return sum;
}

async function until(what: string, f: () => boolean | Promise<boolean>, timeoutMs = 3_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await f())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test("native accept: bytes both ways and half-close, counted in the metrics, and no Node socket per connection", async () => {
  const before = { accepted: za.nativeAcceptStats().accepted, handles: acceptedHandles };
  const sentBefore = await sourceCounter("istio_tcp_received_bytes_total");
  const recvBefore = await sourceCounter("istio_tcp_sent_bytes_total");
  const payload = randomBytes(3 * 1024 * 1024 + 17);
  const rounds = 5;
  for (let i = 0; i < rounds; i++) {
    const s = await connect(VIP.echo);
    const back = await echoRound(s, payload);
    assert.equal(back.length, payload.length);
    assert.equal(createHash("sha256").update(back).digest("hex"), createHash("sha256").update(payload).digest("hex"));
    s.destroy();
  }
  const stats = za.nativeAcceptStats();
  assert.equal(acceptedHandles - before.handles, 0, "no TCP handle was created for an accepted connection in this process");
  assert.equal(stats.accepted - before.accepted, rounds, "every connection was accepted by the addon");
  await until("the metrics to count every byte", async () => {
    const sent = (await sourceCounter("istio_tcp_received_bytes_total")) - sentBefore;
    const recv = (await sourceCounter("istio_tcp_sent_bytes_total")) - recvBefore;
    return sent === rounds * payload.length && recv === rounds * payload.length;
  });
});

test("native accept: the application's half-close goes through, and the answer after it too", async () => {
  const s = await connect(VIP.echo);
  s.end("late"); // FIN first: the echo server still answers after it
  const chunks: Buffer[] = [];
  s.on("data", (d: Buffer) => chunks.push(d));
  await once(s, "end");
  assert.equal(Buffer.concat(chunks).toString(), "late");
  s.destroy();
});

test("native accept: a route it cannot serve resets the application's connection", async () => {
  for (const [ip, from] of [
    [VIP.nowhere, CLIENT], // no endpoint behind the service
    [VIP.echo, "127.0.68.99"], // the source is no workload of node-a
  ] as const) {
    const e = await ending(dial(ip, from));
    assert.deepEqual(e, { kind: "error", code: "ECONNRESET" }, `${from} -> ${ip}`);
  }
});

test("native accept: an upstream reset reaches the application as a reset, not a FIN", async () => {
  const s = dial(VIP.reset);
  s.write("x");
  assert.deepEqual(await ending(s), { kind: "error", code: "ECONNRESET" });
});

test("native accept: passthrough to a destination outside the mesh still works (the fd wrapped in a Node socket)", async () => {
  const s = await connect(VIP.plain);
  const back = await echoRound(s, Buffer.from("plain text"));
  assert.equal(back.toString(), "plain text");
  s.destroy();
});

test("native accept: ztunnel stop closes the listeners", async () => {
  const ca = await CertificateAuthority.createSelfSigned({ trustDomain: "cluster.local" });
  assert.ok(ca.ok);
  const client = new LocalCaClient(ca.value);
  const z = new Ztunnel(
    staticZtunnelConfig(
      "node-a",
      "127.0.68.3",
      { workloads, services },
      { outboundListeners: [{ ip: "127.0.68.110", port: 80 }], hboneEngine: "native" },
    ),
    { caClient: client, rootsPem: client.rootsPem },
  );
  const r = await z.start();
  assert.ok(r.ok, !r.ok ? r.error.message : "");
  assert.equal(z.nativeAcceptStats().listeners, 1);
  await z.stop();
  assert.equal(z.nativeAcceptStats().listeners, 0);
  const s = net.connect({ host: "127.0.68.110", port: 80, localAddress: CLIENT });
  const [e] = (await once(s, "error")) as [NodeJS.ErrnoException];
  assert.equal(e.code, "ECONNREFUSED");
});

test(
  "native accept: a transparent listener (capture's kind) hands over the fd with its mark and the destination as local address",
  { skip: isRoot() ? false : "needs root (IP_TRANSPARENT)" },
  async () => {
    const seen: { fd: number; local: string; remote: string }[] = [];
    const l = NativeListener.listen({ host: "127.0.68.120", port: 0, transparent: { mark: 0x539 } }, (fd, local, remote) =>
      seen.push({ fd, local: `${local.ip}:${local.port}`, remote: `${remote.ip}:${remote.port}` }),
    );
    assert.ok(l.ok, !l.ok ? l.error.message : "");
    try {
      const s = net.connect({ host: "127.0.68.120", port: l.value.address.port, localAddress: CLIENT });
      await once(s, "connect");
      await until("the accept", () => seen.length === 1);
      assert.equal(seen[0]!.local, `127.0.68.120:${l.value.address.port}`);
      assert.equal(seen[0]!.remote, `${CLIENT}:${s.localPort}`);
      const opts = socketOptions(seen[0]!.fd);
      assert.ok(opts.ok, !opts.ok ? opts.error.message : "");
      assert.equal(opts.value.mark, 0x539, "the accepted connection carries the listener's mark");
      resetFd(seen[0]!.fd);
      assert.deepEqual(await ending(s), { kind: "error", code: "ECONNRESET" });
      assert.equal(l.value.stats().accepted, 1);
    } finally {
      l.value.close();
    }
  },
);
