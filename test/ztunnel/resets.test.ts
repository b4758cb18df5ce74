/**
 * Truncation is a reset, not an end (issue 14): when the upstream application resets its
 * connection, or the peer ztunnel dies mid-tunnel, the client application must see a TCP RST
 * (ECONNRESET), so it can tell a cut-off stream from a complete one, as with upstream ztunnel
 * (which resets the downstream socket when the tunnel fails). A clean close stays a clean FIN.
 *
 * Two ztunnels in one process on loopback (127.0.66.0/24). Between them sits a TCP relay that
 * stands in for the network: node-b's HBONE server listens on 15018 and the relay forwards
 * `127.0.66.21:15008` to it, so the test can make node-b "die" by closing every relayed
 * connection at once without a GOAWAY or TLS close_notify, as the kernel does for a killed
 * process (FIN when nothing was unread, RST otherwise). Needs no root.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { once } from "node:events";
import { CertificateAuthority } from "../../src/ca/ca.js";
import { LocalCaClient } from "../../src/proxy/identity/ca-client.js";
import { DEFAULT_PORTS } from "../../src/ztunnel/config.js";
import { Ztunnel } from "../../src/ztunnel/ztunnel.js";
import { staticZtunnelConfig } from "../support/ztunnel-config.js";
import { workload } from "../support/model.js";
import { socksConnect } from "../support/socks.js";

const POD = "127.0.66.21";
const workloads = [
  workload({ name: "sleep", addresses: ["127.0.66.11"], node: "node-a", serviceAccount: "sleep" }),
  workload({ name: "echo", addresses: [POD], node: "node-b", serviceAccount: "echo" }),
];
const proxy = { host: "127.0.66.1", port: 15080 };
const PORT = { echo: 8080, reset: 8081, hold: 8082 };

let za: Ztunnel, zb: Ztunnel;
const servers: net.Server[] = [];
/** The relayed socket pairs (client-side, server-side) standing in for the network to node-b. */
const relayed = new Set<[net.Socket, net.Socket]>();
let relay: net.Server;
/** Called with each connection the hold server accepts (the application's side of a tunnel). */
let onHeld: ((s: net.Socket) => void) | undefined;

function listen(port: number, onSocket: (s: net.Socket) => void): Promise<void> {
  const srv = net.createServer({ allowHalfOpen: true }, (s) => {
    s.on("error", () => {});
    onSocket(s);
  });
  servers.push(srv);
  srv.listen(port, POD);
  return once(srv, "listening").then(() => undefined);
}

before(async () => {
  const ca = await CertificateAuthority.createSelfSigned({ trustDomain: "cluster.local" });
  assert.ok(ca.ok);
  const client = new LocalCaClient(ca.value);
  za = new Ztunnel(staticZtunnelConfig("node-a", "127.0.66.1", { workloads, services: [] }), {
    caClient: client,
    rootsPem: client.rootsPem,
  });
  zb = new Ztunnel(
    staticZtunnelConfig("node-b", "127.0.66.2", { workloads, services: [] }, { ports: { ...DEFAULT_PORTS, hbone: 15018 } }),
    {
      caClient: client,
      rootsPem: client.rootsPem,
    },
  );
  for (const z of [za, zb]) {
    const r = await z.start();
    assert.ok(r.ok, !r.ok ? r.error.message : "");
  }
  relay = net.createServer({ allowHalfOpen: true }, (down) => {
    // From the client's own address, as if there were no relay.
    const up = net.connect({ host: POD, port: 15018, localAddress: down.remoteAddress!, allowHalfOpen: true });
    const pair: [net.Socket, net.Socket] = [down, up];
    relayed.add(pair);
    for (const s of pair) s.on("error", () => {});
    down.pipe(up);
    up.pipe(down);
    const gone = () => relayed.delete(pair);
    down.once("close", gone);
    up.once("close", gone);
  });
  relay.listen(15008, POD);
  await once(relay, "listening");
  await listen(PORT.echo, (s) => s.pipe(s));
  await listen(PORT.reset, (s) => s.once("data", () => s.resetAndDestroy()));
  await listen(PORT.hold, (s) => {
    s.on("data", (d: Buffer) => s.write(d));
    onHeld?.(s);
  });
});

after(async () => {
  for (const pair of relayed) for (const s of pair) s.destroy();
  relay?.close();
  for (const s of servers) s.close();
  await Promise.all([za?.stop(), zb?.stop()]);
});

type Ending = { kind: "end" } | { kind: "error"; code: string | undefined };

/** How the client's socket ended: a clean 'end' (FIN) or an error (ECONNRESET for a RST). */
function ending(s: net.Socket, timeoutMs = 10_000): Promise<Ending> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error("the client's connection did not end")), timeoutMs);
    s.once("end", () => (clearTimeout(t), resolve({ kind: "end" })));
    s.once("error", (e: NodeJS.ErrnoException) => (clearTimeout(t), resolve({ kind: "error", code: e.code })));
    s.resume();
  });
}

async function open(port: number): Promise<net.Socket> {
  return socksConnect({ proxy, localAddress: "127.0.66.11", target: { host: POD, port } });
}

/** Writes `text` and waits for it to come back (the tunnel is established end to end). */
async function roundTrip(s: net.Socket, text: string): Promise<void> {
  const got = new Promise<void>((resolve) => {
    let seen = "";
    const onData = (d: Buffer) => {
      seen += d.toString();
      if (!seen.includes(text)) return;
      s.off("data", onData);
      resolve();
    };
    s.on("data", onData);
  });
  s.write(text);
  await got;
}

test("a clean close by the application stays a clean end for the client (FIN, no reset)", async () => {
  const s = await open(PORT.echo);
  await roundTrip(s, "hello");
  const e = ending(s);
  s.end();
  assert.deepEqual(await e, { kind: "end" });
  s.destroy();
});

test("an upstream application's reset reaches the client as a reset (ECONNRESET), not a FIN", async () => {
  const s = await open(PORT.reset);
  const e = ending(s);
  s.write("trigger");
  assert.deepEqual(await e, { kind: "error", code: "ECONNRESET" });
});

test("a client's reset reaches the application as a reset (ECONNRESET), not a FIN", async () => {
  const upstreamEnding = new Promise<Ending>((resolve) => (onHeld = (s) => void ending(s).then(resolve)));
  const s = await open(PORT.hold);
  await roundTrip(s, "before");
  s.resetAndDestroy();
  assert.deepEqual(await upstreamEnding, { kind: "error", code: "ECONNRESET" });
});

for (const how of ["FIN", "RST"] as const) {
  test(`the peer ztunnel dying mid-tunnel (its connection closed with ${how}, no GOAWAY) resets the client's connection`, async () => {
    const s = await open(PORT.hold);
    await roundTrip(s, "before");
    assert.ok(relayed.size > 0, "the tunnel goes through the relay");
    const e = ending(s);
    for (const [down, up] of relayed) {
      up.destroy();
      if (how === "RST") down.resetAndDestroy();
      else down.destroy();
    }
    assert.deepEqual(await e, { kind: "error", code: "ECONNRESET" });
  });
}
