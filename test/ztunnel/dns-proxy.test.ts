/**
 * ztunnel's DNS proxy with real DNS clients on loopback (127.0.61.0/24): Node's resolver (c-ares,
 * UDP), raw TCP queries, and dig when installed. A test upstream resolver (a real DNS server the
 * test runs on 127.0.61.53, named as the test's stand-in for the cluster DNS) answers what
 * ztunnel forwards. Also: a ServiceEntry hostname endpoint reached through SOCKS5 (ztunnel
 * resolves it upstream), and REGISTRY_ONLY refusing a destination outside the registry.
 * Binds loopback sockets: run under the shared lock.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import dgram from "node:dgram";
import net from "node:net";
import { Resolver } from "node:dns/promises";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { once } from "node:events";
import dnsPacket from "dns-packet";
import { CertificateAuthority } from "../../src/ca/ca.js";
import { LocalCaClient } from "../../src/proxy/identity/ca-client.js";
import { Ztunnel } from "../../src/ztunnel/ztunnel.js";
import { DEFAULT_PORTS } from "../../src/ztunnel/config.js";
import { staticZtunnelConfig } from "../support/ztunnel-config.js";
import { service, workload } from "../support/model.js";
import { exchange, socksConnect, SocksError } from "../support/socks.js";

const ZT = "127.0.61.1";
const CLIENT = "127.0.61.11";
const UPSTREAM = { ip: "127.0.61.53", port: 5353 };
const OUTSIDE = "127.0.61.77";
const DNS_PORT = 15053;

const workloads = [
  workload({ name: "client", namespace: "default", addresses: [CLIENT], node: "node-a" }),
  workload({
    name: "ext",
    namespace: "default",
    uid: "cluster1/networking.istio.io/ServiceEntry/default/ext/outside.test",
    hostname: "outside.test",
    tunnelProtocol: "NONE",
    services: { "default/ext.outside.test": [{ servicePort: 80, targetPort: 8081 }] },
  }),
];
const services = [
  service({ name: "reviews", namespace: "default", vips: ["127.0.61.100"], ports: [{ servicePort: 9080, targetPort: 9080 }] }),
  service({
    name: "api",
    namespace: "default",
    hostname: "api.example.com",
    vips: ["240.240.3.4"],
    ports: [{ servicePort: 443, targetPort: 443 }],
  }),
  service({
    name: "ext",
    namespace: "default",
    hostname: "ext.outside.test",
    vips: ["127.0.61.101"],
    ports: [{ servicePort: 80, targetPort: 8081 }],
  }),
];

/** The test's upstream resolver: `outside.test` A 127.0.61.77, NXDOMAIN otherwise; records what it was asked. */
const asked: string[] = [];
function upstreamAnswer(msg: Buffer): Buffer {
  const q = dnsPacket.decode(msg);
  const question = q.questions![0]!;
  asked.push(question.name);
  const known = question.name === "outside.test" && question.type === "A";
  return dnsPacket.encode({
    type: "response",
    id: q.id ?? 0,
    flags: dnsPacket.RECURSION_AVAILABLE | (known ? 0 : 3),
    questions: [question],
    answers: known ? [{ type: "A", name: "outside.test", ttl: 5, data: OUTSIDE }] : [],
  });
}

let zt: Ztunnel;
let upUdp: dgram.Socket;
let upTcp: net.Server;
let outside: net.Server;

before(async () => {
  upUdp = dgram.createSocket("udp4");
  upUdp.on("message", (m, r) => upUdp.send(upstreamAnswer(m), r.port, r.address));
  upUdp.bind(UPSTREAM.port, UPSTREAM.ip);
  await once(upUdp, "listening");
  upTcp = net.createServer((s) => {
    s.once("data", (d: Buffer) => {
      const reply = upstreamAnswer(d.subarray(2));
      const len = Buffer.alloc(2);
      len.writeUInt16BE(reply.length);
      s.end(Buffer.concat([len, reply]));
    });
  });
  upTcp.listen(UPSTREAM.port, UPSTREAM.ip);
  await once(upTcp, "listening");
  outside = net.createServer((s) => s.once("data", () => s.end(`outside saw ${s.remoteAddress}`)));
  outside.listen(8081, OUTSIDE);
  await once(outside, "listening");
  const ca = await CertificateAuthority.createSelfSigned({ trustDomain: "cluster.local" });
  assert.ok(ca.ok);
  const client = new LocalCaClient(ca.value);
  zt = new Ztunnel(
    staticZtunnelConfig(
      "node-a",
      ZT,
      { workloads, services },
      {
        ports: { ...DEFAULT_PORTS, dns: DNS_PORT },
        dnsProxy: true,
        dnsUpstreams: [UPSTREAM],
        outboundTrafficPolicy: "REGISTRY_ONLY",
      },
    ),
    { caClient: client, rootsPem: client.rootsPem },
  );
  const r = await zt.start();
  assert.ok(r.ok, r.ok ? "" : r.error.message);
});

after(async () => {
  await zt.stop();
  upUdp.close();
  upTcp.close();
  outside.close();
});

function resolver(from = CLIENT): Resolver {
  const r = new Resolver({ timeout: 3000, tries: 1 });
  r.setServers([`${ZT}:${DNS_PORT}`]);
  r.setLocalAddress(from);
  return r;
}

async function rawQuery(name: string, type: "A" | "AAAA", tcp: boolean, from = CLIENT): Promise<ReturnType<typeof dnsPacket.decode>> {
  const q = dnsPacket.encode({ type: "query", id: 4242, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type, name }] });
  if (!tcp) {
    const s = dgram.createSocket("udp4");
    s.bind(0, from);
    await once(s, "listening");
    s.send(q, DNS_PORT, ZT);
    const [msg] = (await once(s, "message")) as [Buffer];
    s.close();
    return dnsPacket.decode(msg);
  }
  const s = net.connect({ host: ZT, port: DNS_PORT, localAddress: from });
  const len = Buffer.alloc(2);
  len.writeUInt16BE(q.length);
  s.write(Buffer.concat([len, q]));
  let buf = Buffer.alloc(0);
  for await (const d of s) {
    buf = Buffer.concat([buf, d as Buffer]);
    if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) break;
  }
  s.destroy();
  return dnsPacket.decode(buf.subarray(2));
}

const lines = (p: ReturnType<typeof dnsPacket.decode>) =>
  (p.answers ?? []).map((a) => `${a.type} ${a.name} ${String((a as { data: unknown }).data)}`);

test("dns proxy: a Service and a ServiceEntry host by full name (Node's resolver, UDP), authoritative", async () => {
  assert.deepEqual(await resolver().resolve4("reviews.default.svc.cluster.local"), ["127.0.61.100"]);
  assert.deepEqual(await resolver().resolve4("api.example.com"), ["240.240.3.4"]);
  const p = await rawQuery("api.example.com", "A", false);
  assert.equal(p.flag_aa, true);
  assert.equal(asked.includes("api.example.com"), false, "ztunnel answered itself, nothing was forwarded");
});

test("dns proxy: search-domain forms, short names, CNAME for a search-expanded ServiceEntry host (UDP and TCP)", async () => {
  for (const tcp of [false, true]) {
    assert.deepEqual(lines(await rawQuery("reviews", "A", tcp)), ["A reviews 127.0.61.100"]);
    assert.deepEqual(lines(await rawQuery("reviews.default", "A", tcp)), ["A reviews.default 127.0.61.100"]);
    assert.deepEqual(lines(await rawQuery("reviews.default.svc", "A", tcp)), ["A reviews.default.svc 127.0.61.100"]);
    assert.deepEqual(lines(await rawQuery("api.example.com.default.svc.cluster.local", "A", tcp)), [
      "CNAME api.example.com.default.svc.cluster.local api.example.com",
      "A api.example.com 240.240.3.4",
    ]);
  }
  const aaaa = await rawQuery("reviews", "AAAA", false);
  assert.equal((aaaa as { rcode?: string }).rcode, "NOERROR");
  assert.deepEqual(lines(aaaa), [], "a known name without IPv6: empty NOERROR, not NXDOMAIN");
});

test("dns proxy: unknown names are forwarded upstream, NXDOMAIN relayed, over UDP and TCP", async () => {
  assert.deepEqual(await resolver().resolve4("outside.test"), [OUTSIDE]);
  assert.ok(asked.includes("outside.test"));
  await assert.rejects(resolver().resolve4("nope.test"), (e: NodeJS.ErrnoException) => e.code === "ENOTFOUND");
  const tcp = await rawQuery("outside.test", "A", true);
  assert.deepEqual(lines(tcp), [`A outside.test ${OUTSIDE}`]);
});

test("dns proxy: a source that is no workload of this node gets SERVFAIL", async () => {
  await assert.rejects(
    resolver("127.0.61.99").resolve4("reviews.default.svc.cluster.local"),
    (e: NodeJS.ErrnoException) => e.code === "ESERVFAIL",
  );
});

test("dns proxy: dig (UDP and TCP) sees the same answers", async (t) => {
  const dig = await promisify(execFile)("dig", ["-v"]).then(
    () => true,
    () => false,
  );
  if (!dig) {
    t.skip("SKIPPED: dig is not installed (Debian bind9-dnsutils; scripts/setup.sh installs it)");
    console.error("SKIPPED: dig is not installed");
    return;
  }
  for (const mode of ["+notcp", "+tcp"]) {
    const { stdout } = await promisify(execFile)("dig", [
      "+short",
      mode,
      "-b",
      CLIENT,
      "-p",
      String(DNS_PORT),
      `@${ZT}`,
      "api.example.com",
      "A",
    ]);
    assert.equal(stdout.trim(), "240.240.3.4", mode);
  }
});

test("ServiceEntry hostname endpoint: ztunnel resolves it upstream and connects; REGISTRY_ONLY refuses the unregistered", async () => {
  const proxy = { host: ZT, port: 15080 };
  const s = await socksConnect({ proxy, localAddress: CLIENT, target: { host: "127.0.61.101", port: 80 } });
  assert.match(await exchange(s, "hello"), /^outside saw /);
  await assert.rejects(
    socksConnect({ proxy, localAddress: CLIENT, target: { host: OUTSIDE, port: 8081 } }),
    (e: unknown) => e instanceof SocksError && e.reply === 0x02,
  );
});
