/**
 * DNS clusters in the waypoint against a real DNS server: a test nameserver on loopback (UDP,
 * answers from a zone the test changes), a STRICT_DNS cluster decoded from Envoy's JSON form
 * into the waypoint's L7 store, and the waypoint's resolver (Node's c-ares, pointed at the test
 * server) following it. Checked: the answer's addresses as hosts, a changed answer picked up at
 * the next refresh (dns_refresh_rate; the TTL rule is table-tested in dns-endpoints.test.ts),
 * the last hosts kept through NXDOMAIN, resolution stopped when the cluster goes. Loopback only.
 */
import { test, after, before } from "node:test";
import assert from "node:assert/strict";
import dgram from "node:dgram";
import type { AddressInfo } from "node:net";
import dnsPacket from "dns-packet";
import { CLUSTER_TYPE_URL } from "../../src/common/xds/envoy-proto.js";
import { decodeFromJson } from "../../src/waypoint/envoy/from-json.js";
import { L7Store } from "../../src/waypoint/envoy/store.js";
import { DnsClusters, systemLookup } from "../../src/waypoint/upstream/dns-clusters.js";

const NAME = "outbound|80||api.example.test";
const zone = new Map<string, string[]>([["api.example.test", ["127.0.63.1"]]]);
const asked: string[] = [];
let server: dgram.Socket;
let port = 0;

before(async () => {
  server = dgram.createSocket("udp4");
  server.on("message", (m, r) => {
    const q = dnsPacket.decode(m);
    const question = q.questions?.[0];
    const name = question?.name ?? "";
    asked.push(`${name}/${question?.type}`);
    const addrs = question?.type === "A" ? zone.get(name) : undefined;
    const reply = dnsPacket.encode({
      type: "response",
      id: q.id ?? 0,
      flags: dnsPacket.RECURSION_AVAILABLE | dnsPacket.AUTHORITATIVE_ANSWER | (zone.has(name) ? 0 : 3),
      questions: q.questions ?? [],
      answers: (addrs ?? []).map((data) => ({ type: "A" as const, name, ttl: 1, data })),
    });
    server.send(reply, r.port, r.address);
  });
  await new Promise<void>((r) => server.bind(0, "127.0.0.1", r));
  port = (server.address() as AddressInfo).port;
});

after(() => server.close());

function decodeCluster(): ReturnType<typeof decodeFromJson> {
  return decodeFromJson(
    CLUSTER_TYPE_URL,
    {
      name: NAME,
      type: "STRICT_DNS",
      connect_timeout: "1s",
      lb_policy: "ROUND_ROBIN",
      dns_lookup_family: "V4_ONLY",
      dns_refresh_rate: "0.2s",
      respect_dns_ttl: false,
      load_assignment: {
        cluster_name: NAME,
        endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "api.example.test", port_value: 8080 } } } }] }],
      },
    },
    NAME,
  );
}

async function eventually<T>(what: string, f: () => T | undefined, ms = 5000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

test("waypoint DNS cluster: resolved through a real nameserver, refreshed, kept through NXDOMAIN, stopped on removal", async () => {
  const store = new L7Store();
  let changes = 0;
  const dns = new DnsClusters(systemLookup([`127.0.0.1:${port}`]), () => changes++);
  store.useDnsHosts((n) => dns.endpointsOf(n));
  store.onChange((kind) => kind === "cluster" && dns.sync(store.allClusters()));
  try {
    const decoded = decodeCluster();
    assert.ok(decoded.ok, JSON.stringify(!decoded.ok && decoded.error));
    const r = store.apply("cluster", [{ name: NAME, value: decoded.value.value }], []);
    assert.ok(r.ok);
    const cluster = store.cluster(NAME)!;
    const hosts = () => store.endpointsOf(cluster)?.endpoints.map((e) => `${e.ip}:${e.port}`);

    assert.deepEqual(await eventually("the first answer", () => (hosts()?.length ? hosts() : undefined)), ["127.0.63.1:8080"]);
    assert.ok(asked.includes("api.example.test/A"), asked.join(","));
    assert.ok(!asked.some((a) => a.endsWith("/AAAA")), "V4_ONLY asks for A records only");

    zone.set("api.example.test", ["127.0.63.2", "127.0.63.3"]);
    assert.deepEqual(await eventually("the changed answer (next refresh)", () => (hosts()?.length === 2 ? hosts() : undefined)), [
      "127.0.63.2:8080",
      "127.0.63.3:8080",
    ]);
    assert.ok(changes >= 2);

    zone.delete("api.example.test");
    const before = asked.length;
    await eventually("a refresh answered NXDOMAIN", () => (asked.length > before ? true : undefined));
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(hosts(), ["127.0.63.2:8080", "127.0.63.3:8080"], "the last hosts stay");

    store.apply("cluster", [], [NAME]);
    assert.equal(dns.endpointsOf(NAME), undefined);
    const stopped = asked.length;
    await new Promise((r) => setTimeout(r, 700));
    assert.ok(asked.length <= stopped + 1, `no more lookups after removal (${asked.length - stopped})`);
  } finally {
    dns.stop();
  }
});
