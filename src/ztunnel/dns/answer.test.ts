import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ProxyState } from "../../proxy/state/state.js";
import { StateMutator } from "../../proxy/state/mutator.js";
import { service, workload } from "../../../test/support/model.js";
import { HostIndex, decideAnswer, type DnsDecision } from "./answer.js";
import { aliases, kubeFqdns, wildcards } from "./names.js";

function mesh() {
  const state = new ProxyState();
  const r = new StateMutator(state).applyAddresses(
    [
      { kind: "workload", value: workload({ name: "client", namespace: "ns1", addresses: ["10.0.0.1"], node: "n" }) },
      {
        kind: "workload",
        value: workload({
          name: "h1",
          namespace: "ns1",
          addresses: ["10.0.1.1", "fd00::1"],
          services: { "ns1/headless.ns1.svc.cluster.local": [] },
        }),
      },
      { kind: "service", value: service({ name: "reviews", namespace: "ns1", vips: ["10.96.0.1", "fd00:96::1"] }) },
      { kind: "service", value: service({ name: "reviews", namespace: "ns2", vips: ["10.96.0.2"] }) },
      { kind: "service", value: service({ name: "example", namespace: "ns2", vips: ["10.96.0.3"] }) },
      { kind: "service", value: service({ name: "headless", namespace: "ns1" }) },
      { kind: "service", value: service({ name: "ext", namespace: "ns2", hostname: "api.example.com", vips: ["240.240.1.2"] }) },
      { kind: "service", value: service({ name: "wild", namespace: "ns2", hostname: "*.wild.example.com", vips: ["240.240.9.9"] }) },
      { kind: "service", value: service({ name: "novip", namespace: "ns2", hostname: "dns.example.com" }) },
      {
        kind: "service",
        value: service({ name: "local", namespace: "ns2", hostname: "private.example.com", vips: ["10.9.9.9"], visibility: "NAMESPACE" }),
      },
    ],
    [],
  );
  assert.ok(r.ok, r.ok ? "" : JSON.stringify(r.error));
  return { state, hosts: new HostIndex(state), client: state.workloadByAddress("", "10.0.0.1")! };
}

const identity = <T>(xs: T[]) => xs;

void describe("names", () => {
  void it("kube FQDN expansions per label count", () => {
    assert.deepEqual(kubeFqdns("a", "ns", "cluster.local"), ["a.ns.svc.cluster.local"]);
    assert.deepEqual(kubeFqdns("a.b", "ns", "cluster.local"), ["a.b.svc.cluster.local", "a.b.ns.svc.cluster.local"]);
    assert.deepEqual(kubeFqdns("a.b.svc", "ns", "cluster.local"), ["a.b.svc.cluster.local", "a.b.svc.svc.cluster.local"]);
    assert.deepEqual(kubeFqdns("a.b.c.svc", "ns", "cluster.local"), ["a.b.c.svc.cluster.local"]);
    assert.deepEqual(kubeFqdns("a.b.c.d.e", "ns", "cluster.local"), []);
  });
  void it("aliases strip the client's search domains", () => {
    const a = aliases("api.example.com.ns1.svc.cluster.local", "ns1", "cluster.local");
    assert.ok(a.some((x) => x.name === "api.example.com" && x.stripped === "api.example.com"));
  });
  void it("wildcards of decreasing specificity", () => {
    assert.deepEqual(wildcards("www.example.com"), ["www.example.com", "*.example.com", "*.com"]);
  });
});

void describe("decideAnswer", () => {
  const cases: Array<[string, string, string, (d: DnsDecision) => void]> = [
    ["short name: the client's namespace", "reviews", "A", (d) => assert.deepEqual(recs(d), ["A reviews 10.96.0.1"])],
    ["name.ns", "reviews.ns2", "A", (d) => assert.deepEqual(recs(d), ["A reviews.ns2 10.96.0.2"])],
    ["name.ns.svc", "reviews.ns2.svc.", "A", (d) => assert.deepEqual(recs(d), ["A reviews.ns2.svc 10.96.0.2"])],
    [
      "full name, trailing dot, upper case",
      "Reviews.NS2.svc.cluster.local.",
      "A",
      (d) => assert.deepEqual(recs(d), ["A reviews.ns2.svc.cluster.local 10.96.0.2"]),
    ],
    [
      "search-expanded full name of the own namespace: answered as asked",
      "reviews.ns1.svc.cluster.local",
      "A",
      (d) => assert.deepEqual(recs(d), ["A reviews.ns1.svc.cluster.local 10.96.0.1"]),
    ],
    ["AAAA of a dual-stack service", "reviews", "AAAA", (d) => assert.deepEqual(recs(d), ["AAAA reviews fd00:96::1"])],
    ["AAAA of an IPv4-only service: empty authoritative answer, not NXDOMAIN", "reviews.ns2", "AAAA", (d) => assert.deepEqual(recs(d), [])],
    ["a ServiceEntry host", "api.example.com", "A", (d) => assert.deepEqual(recs(d), ["A api.example.com 240.240.1.2"])],
    [
      "a ServiceEntry host with a search domain appended: CNAME to the host",
      "api.example.com.ns1.svc.cluster.local",
      "A",
      (d) => assert.deepEqual(recs(d), ["CNAME api.example.com.ns1.svc.cluster.local api.example.com", "A api.example.com 240.240.1.2"]),
    ],
    ["a wildcard host", "a.wild.example.com", "A", (d) => assert.deepEqual(recs(d), ["A a.wild.example.com 240.240.9.9"])],
    ["a headless service: endpoint addresses", "headless", "A", (d) => assert.deepEqual(recs(d), ["A headless 10.0.1.1"])],
    [
      "a short name from another namespace: forwarded",
      "example",
      "A",
      (d) => assert.deepEqual(d, { kind: "forward", reason: "unknown host" }),
    ],
    ["an unknown host: forwarded", "www.google.com", "A", (d) => assert.deepEqual(d, { kind: "forward", reason: "unknown host" })],
    ["a VIP-less ServiceEntry host: forwarded (the real DNS answers)", "dns.example.com", "A", (d) => assert.equal(d.kind, "forward")],
    ["exportTo '.' of another namespace: forwarded", "private.example.com", "A", (d) => assert.equal(d.kind, "forward")],
    ["a record type other than A/AAAA: forwarded", "reviews", "MX", (d) => assert.deepEqual(d, { kind: "forward", reason: "record type" })],
  ];
  for (const [name, qname, type, check] of cases) {
    void it(name, () => {
      const { state, hosts, client } = mesh();
      check(decideAnswer(state, hosts, client, { name: qname, type }, { clusterDomain: "cluster.local", shuffle: identity }));
    });
  }
  void it("the index follows state changes", () => {
    const { state, hosts, client } = mesh();
    new StateMutator(state).applyAddresses(
      [{ kind: "service", value: service({ name: "new", namespace: "ns1", vips: ["10.96.7.7"] }) }],
      [],
    );
    assert.deepEqual(recs(decideAnswer(state, hosts, client, { name: "new", type: "A" }, { clusterDomain: "cluster.local" })), [
      "A new 10.96.7.7",
    ]);
  });
});

function recs(d: DnsDecision): string[] {
  assert.equal(d.kind, "answer");
  return d.kind === "answer" ? d.records.map((r) => `${r.type} ${r.name} ${r.data}`) : [];
}
