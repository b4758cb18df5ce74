import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { workload, service } from "../../../test/support/model.js";
import type { Authorization, Match } from "../model/authorization.js";
import { addressAliases, addressName, decodeAddress, encodeAddress, type AddressResource } from "./address-codec.js";
import { decodeAuthorization, encodeAuthorization } from "./authorization-codec.js";
import { ipFromBytes, ipToBytes } from "./ip-bytes.js";
import { protoTypes } from "./proto.js";

const emptyMatch: Match = {
  namespaces: [],
  notNamespaces: [],
  principals: [],
  notPrincipals: [],
  sourceIps: [],
  notSourceIps: [],
  destinationIps: [],
  notDestinationIps: [],
  destinationPorts: [],
  notDestinationPorts: [],
  serviceAccounts: [],
  notServiceAccounts: [],
};

void describe("ip bytes", () => {
  const table: Array<[string, number[] | null, string]> = [
    ["10.1.2.3", [10, 1, 2, 3], "10.1.2.3"],
    ["fd00::1", [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], "fd00::1"],
    ["2001:db8:0:0:1:0:0:1", null, "2001:db8::1:0:0:1"],
    ["::", null, "::"],
    ["1:2:3:4:5:6:7:8", null, "1:2:3:4:5:6:7:8"],
    ["::ffff:1.2.3.4", null, "1.2.3.4"],
    ["64:ff9b::10.0.0.1", null, "64:ff9b::a00:1"],
  ];
  for (const [text, bytes, canonical] of table) {
    void it(`round-trips ${text} to canonical ${canonical}`, () => {
      const b = ipToBytes(text);
      assert.ok(b);
      if (bytes) assert.deepEqual([...b], bytes);
      assert.equal(ipFromBytes(b), canonical);
    });
  }
  void it("rejects lengths other than 4 and 16 and non-IP text", () => {
    assert.equal(ipFromBytes(new Uint8Array(5)), undefined);
    assert.equal(ipFromBytes(new Uint8Array(0)), undefined);
    assert.equal(ipToBytes("example.com"), undefined);
  });
});

void describe("address codec round trips", () => {
  const cases: Array<[string, AddressResource]> = [
    ["a minimal workload", { kind: "workload", value: workload({ name: "a", addresses: ["10.0.0.1"] }) }],
    [
      "a workload with every field",
      {
        kind: "workload",
        value: workload({
          name: "b",
          namespace: "ns1",
          addresses: ["10.0.0.2", "fd00::2"],
          hostname: "b.example",
          network: "net1",
          tunnelProtocol: "NONE",
          serviceAccount: "sa-b",
          waypoint: { kind: "hostname", namespace: "ns1", hostname: "wp.ns1.svc.cluster.local", hboneMtlsPort: 15008 },
          services: { "ns1/s.ns1.svc.cluster.local": [{ servicePort: 80, targetPort: 8080, appProtocol: "HTTP2" }] },
          authorizationPolicies: ["ns1/p"],
          status: "UNHEALTHY",
          workloadType: "DEPLOYMENT",
          locality: { region: "r", zone: "z", subzone: "s" },
          networkMode: "HOST_NETWORK",
        }),
      },
    ],
    [
      "a service",
      {
        kind: "service",
        value: service({ name: "s", vips: ["10.96.0.1", "fd00::96"], ports: [{ servicePort: 80, targetPort: 8080, appProtocol: "TCP" }] }),
      },
    ],
    [
      "a service with waypoint address and load balancing",
      {
        kind: "service",
        value: service({
          name: "t",
          vips: ["10.96.0.2"],
          subjectAltNames: ["spiffe://cluster.local/ns/default/sa/t"],
          waypoint: { kind: "address", network: "", address: "10.0.0.9", hboneMtlsPort: 15008 },
          loadBalancing: { routingPreference: ["NETWORK", "ZONE"], mode: "FAILOVER", healthPolicy: "ALLOW_ALL" },
        }),
      },
    ],
  ];
  for (const [what, r] of cases) {
    void it(`decodes what it encodes: ${what}`, () => {
      const got = decodeAddress(encodeAddress(r), addressName(r));
      assert.ok(got.ok, JSON.stringify(!got.ok && got.error));
      // PortMapping.appProtocol is optional in the domain; the wire always carries it.
      const norm = (x: AddressResource) =>
        JSON.parse(JSON.stringify(x, (_k, v: unknown) => (v instanceof Map ? Object.fromEntries(v) : v)));
      const want = norm(r);
      if (r.kind === "workload")
        for (const ports of Object.values(want.value.services) as Array<Array<{ appProtocol?: string }>>)
          for (const p of ports) p.appProtocol ??= "UNKNOWN";
      assert.deepEqual(norm(got.value), want);
    });
  }
  void it("names workloads by uid and services by namespace/hostname, aliases by network/IP", () => {
    const w: AddressResource = { kind: "workload", value: workload({ name: "a", addresses: ["10.0.0.1"], network: "n" }) };
    assert.equal(addressName(w), "cluster1//Pod/default/a");
    assert.deepEqual(addressAliases(w), ["n/10.0.0.1"]);
    assert.equal(addressName({ kind: "service", value: service({ name: "s" }) }), "default/s.default.svc.cluster.local");
  });
  void it("applies upstream defaults for elided trust domain and service account", () => {
    const bytes = protoTypes()
      .Address.encode({ workload: { uid: "u1", name: "n", namespace: "ns" } })
      .finish();
    const got = decodeAddress(bytes, "u1");
    assert.ok(got.ok && got.value.kind === "workload");
    assert.equal(got.value.value.trustDomain, "cluster.local");
    assert.equal(got.value.value.serviceAccount, "default");
  });
});

void describe("address codec rejects", () => {
  const wl = (over: object) =>
    protoTypes()
      .Address.encode({ workload: { uid: "u1", name: "n", namespace: "ns", ...over } })
      .finish();
  const svc = (over: object) =>
    protoTypes()
      .Address.encode({ service: { name: "s", namespace: "ns", hostname: "s.ns.svc", ...over } })
      .finish();
  const table: Array<[string, Uint8Array, string, string, string]> = [
    ["a workload IP of 5 bytes", wl({ addresses: [Buffer.from([10, 0, 0, 1]), Buffer.alloc(5)] }), "u1", "u1", "workload.addresses[1]"],
    ["a workload without uid", wl({ uid: "" }), "x", "x", "workload.uid"],
    ["a workload without namespace", wl({ namespace: "" }), "u1", "u1", "workload.namespace"],
    [
      "a service port of 0",
      svc({ ports: [{ servicePort: 0, targetPort: 80 }] }),
      "ns/s.ns.svc",
      "ns/s.ns.svc",
      "service.ports[0].service_port",
    ],
    [
      "a target port above 65535",
      wl({ services: { "ns/s": { ports: [{ servicePort: 80, targetPort: 70000 }] } } }),
      "u1",
      "u1",
      "workload.services[ns/s].ports[0].target_port",
    ],
    ["a services key without namespace", wl({ services: { s: { ports: [] } } }), "u1", "u1", "workload.services[s]"],
    ["an unknown workload status", wl({ status: 7 }), "u1", "u1", "workload.status"],
    ["a legacy tunnel protocol", wl({ tunnelProtocol: 2 }), "u1", "u1", "workload.tunnel_protocol"],
    ["a waypoint without destination", wl({ waypoint: { hboneMtlsPort: 15008 } }), "u1", "u1", "workload.waypoint"],
    [
      "a waypoint without port",
      wl({ waypoint: { address: { address: Buffer.from([1, 2, 3, 4]) } } }),
      "u1",
      "u1",
      "workload.waypoint.hbone_mtls_port",
    ],
    [
      "a service VIP of 3 bytes",
      svc({ addresses: [{ address: Buffer.alloc(3) }] }),
      "ns/s.ns.svc",
      "ns/s.ns.svc",
      "service.addresses[0].address",
    ],
    ["a service without hostname", svc({ hostname: "" }), "ns/x", "ns/x", "service.hostname"],
    ["an empty Address", protoTypes().Address.encode({}).finish(), "r", "r", "type"],
    ["garbage bytes", Buffer.from([0xff, 0xff, 0xff]), "r", "r", "(wire)"],
    ["a name that does not match the uid", wl({}), "other", "u1", "name"],
  ];
  for (const [what, bytes, name, resource, field] of table) {
    void it(`${what}, naming resource and field`, () => {
      const got = decodeAddress(bytes, name);
      assert.equal(got.ok, false);
      assert.ok(!got.ok);
      assert.ok(
        got.error.some((e) => e.resource === resource && e.field === field),
        `want ${resource} ${field}, got ${JSON.stringify(got.error)}`,
      );
    });
  }
  void it("reports every problem of a resource at once", () => {
    const got = decodeAddress(wl({ name: "", addresses: [Buffer.alloc(1)], status: 9 }), "u1");
    assert.ok(!got.ok);
    assert.deepEqual(got.error.map((e) => e.field).sort(), ["workload.addresses[0]", "workload.name", "workload.status"]);
  });
});

void describe("authorization codec", () => {
  const policy: Authorization = {
    name: "p",
    namespace: "ns",
    scope: "WORKLOAD_SELECTOR",
    action: "DENY",
    dryRun: true,
    rules: [
      {
        clauses: [
          {
            matches: [
              {
                ...emptyMatch,
                namespaces: [{ exact: "a" }, { prefix: "b" }],
                notPrincipals: [{ suffix: "/sa/c" }, { presence: true }],
                sourceIps: [{ address: "10.0.0.0", length: 8 }],
                notDestinationIps: [{ address: "fd00::", length: 64 }],
                destinationPorts: [80, 443],
                notDestinationPorts: [22],
                serviceAccounts: [{ namespace: "ns", serviceAccount: "sa" }],
              },
            ],
          },
        ],
      },
      { clauses: [] },
    ],
  };
  void it("decodes what it encodes", () => {
    const got = decodeAuthorization(encodeAuthorization(policy), "ns/p");
    assert.ok(got.ok, JSON.stringify(!got.ok && got.error));
    assert.deepEqual(got.value, policy);
  });
  const A = protoTypes().Authorization;
  const match = (m: object) => A.encode({ name: "p", namespace: "ns", rules: [{ clauses: [{ matches: [m] }] }] }).finish();
  const table: Array<[string, Uint8Array, string]> = [
    ["a policy without name", A.encode({ namespace: "ns" }).finish(), "name"],
    ["an unknown action", A.encode({ name: "p", namespace: "ns", action: 5 }).finish(), "action"],
    ["an empty string match", match({ principals: [{}] }), "rules[0].clauses[0].matches[0].principals[0]"],
    [
      "a source IP of 2 bytes",
      match({ sourceIps: [{ address: Buffer.alloc(2), length: 8 }] }),
      "rules[0].clauses[0].matches[0].source_ips[0].address",
    ],
    [
      "a prefix longer than the address",
      match({ destinationIps: [{ address: Buffer.from([1, 2, 3, 4]), length: 33 }] }),
      "rules[0].clauses[0].matches[0].destination_ips[0].length",
    ],
    ["a destination port above 65535", match({ destinationPorts: [65536] }), "rules[0].clauses[0].matches[0].destination_ports[0]"],
    [
      "a service account match without namespace",
      match({ serviceAccounts: [{ serviceAccount: "x" }] }),
      "rules[0].clauses[0].matches[0].service_accounts[0].namespace",
    ],
  ];
  for (const [what, bytes, field] of table) {
    void it(`rejects ${what}, naming the field`, () => {
      const got = decodeAuthorization(bytes, "ns/p");
      assert.ok(!got.ok);
      assert.ok(
        got.error.some((e) => e.field === field && e.resource === "ns/p"),
        JSON.stringify(got.error),
      );
    });
  }
  void it('accepts destination port 0, as upstream ztunnel does (istiod sends it for ports: ["0"])', () => {
    const got = decodeAuthorization(match({ destinationPorts: [0] }), "ns/p");
    assert.ok(got.ok, JSON.stringify(!got.ok && got.error));
    assert.deepEqual(got.value.rules[0]!.clauses[0]!.matches[0]!.destinationPorts, [0]);
  });
  void it("rejects a policy filed under another name", () => {
    const got = decodeAuthorization(encodeAuthorization(policy), "ns/q");
    assert.ok(!got.ok);
    assert.equal(got.error[0]!.field, "name");
  });
});
