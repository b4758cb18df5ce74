/**
 * Two ztunnels in one process on loopback addresses (127.0.60.0/24), a real client through
 * SOCKS5 on node-a and a real server behind node-b: the connection crosses over HBONE with
 * verified SPIFFE identities. Needs no root: every 127.x address is local.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { once } from "node:events";
import { CertificateAuthority } from "../../src/ca/ca.js";
import { LocalCaClient } from "../../src/proxy/identity/ca-client.js";
import { Ztunnel } from "../../src/ztunnel/ztunnel.js";
import type { ZtunnelConfig } from "../../src/ztunnel/config.js";
import { staticZtunnelConfig } from "../support/ztunnel-config.js";
import type { Authorization } from "../../src/common/model/authorization.js";
import { service, workload } from "../support/model.js";
import { exchange, socksConnect, SocksError } from "../support/socks.js";
import { nativeDialStats } from "../../src/proxy/transport/native-dial.js";

const SVC = "default/echo.default.svc.cluster.local";
const workloads = [
  workload({ name: "sleep", addresses: ["127.0.60.11"], node: "node-a", serviceAccount: "sleep" }),
  workload({
    name: "echo",
    addresses: ["127.0.60.21"],
    node: "node-b",
    serviceAccount: "echo",
    services: { [SVC]: [{ servicePort: 80, targetPort: 8080 }] },
  }),
];
const services = [service({ name: "echo", vips: ["127.0.60.100"], ports: [{ servicePort: 80, targetPort: 8080 }] })];

function config(node: string, bindAddress: string): ZtunnelConfig {
  return staticZtunnelConfig(
    node,
    bindAddress,
    { workloads, services },
    { outboundListeners: [{ ip: "127.0.60.100", port: 80 }].filter(() => node === "node-a") },
  );
}

let za: Ztunnel, zb: Ztunnel;
let echo: net.Server;
const seenPeers: string[] = [];
/** Errors the workload's sockets saw (a policy close must reach it as a reset). */
const upstreamErrors: string[] = [];

before(async () => {
  const ca = await CertificateAuthority.createSelfSigned({ trustDomain: "cluster.local" });
  assert.ok(ca.ok);
  const client = new LocalCaClient(ca.value);
  za = new Ztunnel(config("node-a", "127.0.60.1"), { caClient: client, rootsPem: client.rootsPem });
  zb = new Ztunnel(config("node-b", "127.0.60.2"), { caClient: client, rootsPem: client.rootsPem });
  for (const z of [za, zb]) {
    const r = await z.start();
    assert.ok(r.ok, !r.ok ? r.error.message : "");
  }
  echo = net.createServer({ allowHalfOpen: true }, (s) => {
    seenPeers.push(String(s.remoteAddress));
    s.on("error", (e: NodeJS.ErrnoException) => upstreamErrors.push(String(e.code))); // a policy close resets
    s.pipe(s);
  });
  echo.listen(8080, "127.0.60.21");
  await once(echo, "listening");
});

after(async () => {
  echo.close();
  await Promise.all([za.stop(), zb.stop()]);
});

const proxy = { host: "127.0.60.1", port: 15080 };

test("two ztunnels: a SOCKS5 client reaches a service over HBONE and the server sees the client's IP", async () => {
  const s = await socksConnect({ proxy, localAddress: "127.0.60.11", target: { host: "127.0.60.100", port: 80 } });
  assert.equal(await exchange(s, "hello mesh"), "hello mesh");
  assert.equal(seenPeers.at(-1), "127.0.60.11", "the upstream connection keeps the client's source address");
});

test("two ztunnels: service hostnames resolve through SOCKS5, pod IPs work directly", async () => {
  const byName = await socksConnect({ proxy, localAddress: "127.0.60.11", target: { host: "echo.default.svc.cluster.local", port: 80 } });
  assert.equal(await exchange(byName, "by name"), "by name");
  const byPod = await socksConnect({ proxy, localAddress: "127.0.60.11", target: { host: "127.0.60.21", port: 8080 } });
  assert.equal(await exchange(byPod, "by pod"), "by pod");
});

test("two ztunnels: the outbound listener routes by its own address as original destination", async () => {
  const s = net.connect({ host: "127.0.60.100", port: 80, localAddress: "127.0.60.11", allowHalfOpen: true });
  await once(s, "connect");
  assert.equal(await exchange(s, "captured-style"), "captured-style");
});

test("two ztunnels: metrics carry both SPIFFE identities and mutual_tls", async () => {
  const text = await zb.metrics.registry.metrics();
  const line = text.split("\n").find((l) => l.startsWith("istio_tcp_connections_opened_total{") && l.includes('reporter="destination"'));
  assert.ok(line, text);
  assert.match(line, /source_principal="spiffe:\/\/cluster.local\/ns\/default\/sa\/sleep"/);
  assert.match(line, /destination_principal="spiffe:\/\/cluster.local\/ns\/default\/sa\/echo"/);
  assert.match(line, /connection_security_policy="mutual_tls"/);
  const received = text.split("\n").find((l) => l.startsWith("istio_tcp_received_bytes_total{") && l.includes('reporter="destination"'));
  assert.ok(received && Number(received.split(" ").at(-1)) >= "hello mesh".length, received);
});

test("two ztunnels: a SOCKS5 client that sends its request and FIN together gets the tunnel closed (fuzz corpus socks5/ipv4.bin)", async () => {
  // Greeting, CONNECT 127.0.60.100:80 and FIN in one write: the FIN arrives while the listener
  // is paused dialling; it used to be lost and the tunnel stayed open forever.
  const s = net.connect({ host: proxy.host, port: proxy.port, localAddress: "127.0.60.11" });
  s.on("error", () => {});
  await once(s, "connect");
  const got: Buffer[] = [];
  s.on("data", (d: Buffer) => got.push(d));
  s.end(Buffer.from([5, 1, 0, 5, 1, 0, 1, 127, 0, 60, 100, 0, 80]));
  const closed = await Promise.race([once(s, "close").then(() => true), new Promise((r) => setTimeout(() => r(false), 3000))]);
  s.destroy();
  assert.equal(closed, true, "the tunnel did not close after the client's FIN");
  assert.deepEqual([...Buffer.concat(got)], [5, 0, 5, 0, 0, 1, 0, 0, 0, 0, 0, 0], "method reply, then CONNECT succeeded");
});

test("two ztunnels: a SOCKS5 client that half-closes in the middle of its request is closed at once (fuzz corpus socks5/crash-1-0.bin)", async () => {
  const s = net.connect({ host: proxy.host, port: proxy.port, localAddress: "127.0.60.11" });
  s.on("error", () => {});
  await once(s, "connect");
  s.resume();
  const t0 = Date.now();
  s.end(Buffer.from([5, 1, 0, 5, 1, 0, 3, 30, ...Buffer.from("echo.default")])); // a domain name cut short
  const closed = await Promise.race([once(s, "close").then(() => true), new Promise((r) => setTimeout(() => r(false), 3000))]);
  s.destroy();
  assert.equal(closed, true, "the listener waited for the rest of a request after the client's FIN");
  assert.ok(Date.now() - t0 < 2000, "closed on the FIN, not at the handshake timeout");
});

test("two ztunnels: a client that is not a local workload is refused", async () => {
  await assert.rejects(
    socksConnect({ proxy, localAddress: "127.0.60.99", target: { host: "127.0.60.100", port: 80 } }),
    (e: unknown) => e instanceof SocksError && e.reply === 2,
  );
});

test("two ztunnels: a service port that does not exist is unreachable", async () => {
  await assert.rejects(
    socksConnect({ proxy, localAddress: "127.0.60.11", target: { host: "127.0.60.100", port: 81 } }),
    (e: unknown) => e instanceof SocksError && e.reply === 4,
  );
});

test("two ztunnels: readiness, config dump and admin endpoints", async () => {
  const ready = await fetch("http://127.0.60.2:15021/healthz/ready");
  assert.equal(ready.status, 200);
  const dump = (await (await fetch("http://127.0.60.2:15000/config_dump")).json()) as {
    certificates: Array<{ identity: string; state: string }>;
    hboneListeners: string[];
  };
  assert.deepEqual(
    dump.certificates.map((c) => `${c.identity} ${c.state}`),
    ["spiffe://cluster.local/ns/default/sa/echo available"],
  );
  assert.deepEqual(dump.hboneListeners, ["127.0.60.21"]);
  assert.doesNotMatch(JSON.stringify(dump), /PRIVATE KEY/, "keys never appear in dumps");
  assert.equal((await fetch("http://127.0.60.2:15000/logging?level=loud", { method: "POST" })).status, 400);
  assert.equal((await fetch("http://127.0.60.2:15020/stats/prometheus")).status, 200);
});

/** Destination-side failed connections from sleep to echo with these response flags. */
async function destinationCount(flags: string): Promise<number> {
  let n = 0;
  for (const line of (await zb.metrics.registry.metrics()).split("\n")) {
    if (!line.startsWith("istio_tcp_connections_failed_total{") || !line.includes('reporter="destination"')) continue;
    if (!line.includes(`response_flags="${flags}"`) || !line.includes('source_principal="spiffe://cluster.local/ns/default/sa/sleep"'))
      continue;
    n += Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return n;
}

test("two ztunnels: a failure that is not a denial (nothing listening) is not reported as one", async () => {
  const [denied, refused] = [await destinationCount("DENY"), await destinationCount("CONNECT")];
  await assert.rejects(
    socksConnect({ proxy, localAddress: "127.0.60.11", target: { host: "127.0.60.21", port: 8081 } }),
    (e: unknown) => e instanceof SocksError && e.reply === 4,
    "HBONE 503 (upstream connect failed) is SOCKS reply 4, not 2",
  );
  assert.equal(await destinationCount("DENY"), denied, "not counted as DENY");
  assert.equal(await destinationCount("CONNECT"), refused + 1, "counted as an upstream connect failure");
});

test("two ztunnels: an authorization policy denies new connections and closes open ones", async () => {
  const open = await socksConnect({ proxy, localAddress: "127.0.60.11", target: { host: "127.0.60.100", port: 80 } });
  open.write("ping");
  await once(open, "data");
  const deny: Authorization = {
    name: "deny-sleep",
    namespace: "default",
    scope: "NAMESPACE",
    action: "DENY",
    dryRun: false,
    rules: [
      {
        clauses: [
          {
            matches: [
              {
                namespaces: [],
                notNamespaces: [],
                principals: [{ exact: "cluster.local/ns/default/sa/sleep" }],
                notPrincipals: [],
                sourceIps: [],
                notSourceIps: [],
                destinationIps: [],
                notDestinationIps: [],
                destinationPorts: [],
                notDestinationPorts: [],
                serviceAccounts: [],
                notServiceAccounts: [],
              },
            ],
          },
        ],
      },
    ],
  };
  const closed = once(open, "close");
  const resetsBefore = upstreamErrors.filter((c) => c === "ECONNRESET").length;
  assert.ok(zb.mutator.applyAuthorizations([deny], []).ok);
  await closed;
  const reset = await new Promise<boolean>((res) => {
    const t0 = Date.now();
    const poll = () =>
      upstreamErrors.filter((c) => c === "ECONNRESET").length > resetsBefore
        ? res(true)
        : Date.now() - t0 > 2_000
          ? res(false)
          : setTimeout(poll, 20);
    poll();
  });
  assert.ok(reset, "the workload's side of the closed tunnel was reset (TCP RST), not ended with a FIN");
  const deniedBefore = await destinationCount("DENY");
  await assert.rejects(
    socksConnect({ proxy, localAddress: "127.0.60.11", target: { host: "127.0.60.100", port: 80 } }),
    (e: unknown) => e instanceof SocksError && e.reply === 2,
  );
  // The denial's signature, not just a failure: the destination counted it as DENY (HBONE 401
  // became SOCKS reply 2, "not allowed by ruleset").
  assert.equal(await destinationCount("DENY"), deniedBefore + 1, "the destination ztunnel counted the denial");
  const explained = await fetch(
    "http://127.0.60.2:15000/authz/explain?src=127.0.60.11&principal=cluster.local/ns/default/sa/sleep&dst=127.0.60.21&port=8080",
  );
  assert.equal(explained.status, 200);
  const text = await explained.text();
  assert.match(text, /policy default\/deny-sleep \[DENY, NAMESPACE\]: MATCHED by rule 0/);
  assert.match(text, /decision: DENY/);
  const plaintext = await (await fetch("http://127.0.60.2:15000/authz/explain?src=127.0.60.11&dst=127.0.60.21&port=8080")).text();
  assert.match(plaintext, /decision: ALLOW/, "a peer without the principal does not match the DENY");
  assert.equal((await fetch("http://127.0.60.2:15000/authz/explain?src=x&dst=127.0.60.21&port=8080")).status, 400);
  assert.ok(zb.mutator.applyAuthorizations([], ["default/deny-sleep"]).ok);
  const again = await socksConnect({ proxy, localAddress: "127.0.60.11", target: { host: "127.0.60.100", port: 80 } });
  assert.equal(await exchange(again, "allowed again"), "allowed again");
});

test("two ztunnels: on the native engine the inbound upstream is the addon's descriptor, never a Node socket", async (t) => {
  if (zb.engine !== "native") return t.skip("node engine: the upstream is a Node socket (WEFT_HBONE_ENGINE=native runs this)");
  // Every Node socket connecting to the workload goes through Socket.prototype.connect.
  const proto = net.Socket.prototype as unknown as { connect: (...a: unknown[]) => unknown };
  const original = proto.connect;
  let nodeConnects = 0;
  proto.connect = function (this: unknown, ...a: unknown[]) {
    const o = (Array.isArray(a[0]) ? a[0][0] : a[0]) as { port?: number } | undefined;
    if (o?.port === 8080) nodeConnects++;
    return original.apply(this, a);
  };
  const before = nativeDialStats()!;
  try {
    const s = await socksConnect({ proxy, localAddress: "127.0.60.11", target: { host: "127.0.60.100", port: 80 } });
    assert.equal(await exchange(s, "no node socket"), "no node socket");
  } finally {
    proto.connect = original;
  }
  assert.equal(nodeConnects, 0, "no Node socket connected to the workload");
  assert.equal(nativeDialStats()!.connected - before.connected, 1, "the addon dialled the upstream");
  assert.equal(seenPeers.at(-1), "127.0.60.11", "bound to the client's IP");
});
