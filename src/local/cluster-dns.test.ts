import { test } from "node:test";
import assert from "node:assert/strict";
import dnsPacket from "dns-packet";
import { clusterAnswer, clusterZone } from "./cluster-dns.js";

const svc = (name: string, clusterIPs: string[]) => ({
  namespace: "demo",
  name,
  ...(clusterIPs.length ? { clusterIP: clusterIPs[0]!, clusterIPs } : {}),
  selector: {},
  ports: [],
});

test("cluster DNS: A for the IPv4 cluster IP, AAAA for the IPv6 one (dual-stack Services); headless not in the zone", () => {
  const zone = clusterZone([svc("dual", ["198.19.207.1", "fd00:5745:4654:ffff::1"]), svc("v4", ["198.19.207.2"]), svc("headless", [])]);
  assert.deepEqual(zone, {
    "dual.demo.svc.cluster.local": ["198.19.207.1", "fd00:5745:4654:ffff::1"],
    "v4.demo.svc.cluster.local": ["198.19.207.2"],
  });
  const ask = (name: string, type: "A" | "AAAA") => {
    const a = clusterAnswer(zone, dnsPacket.encode({ type: "query", id: 7, questions: [{ type, name, class: "IN" }] }))!;
    return (dnsPacket.decode(a).answers ?? []).map((x) => `${x.type} ${String((x as { data: unknown }).data)}`);
  };
  assert.deepEqual(ask("dual.demo.svc.cluster.local", "A"), ["A 198.19.207.1"]);
  assert.deepEqual(ask("dual.demo.svc.cluster.local", "AAAA"), ["AAAA fd00:5745:4654:ffff::1"]);
  assert.deepEqual(ask("v4.demo.svc.cluster.local", "AAAA"), [], "an IPv4-only Service: no AAAA data, no error");
});
