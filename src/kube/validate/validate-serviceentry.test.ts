import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { validateObject } from "./validate.js";

const origin = { source: "edge.yaml#0:1" };

const se = (spec: Record<string, unknown>) => ({
  apiVersion: "networking.istio.io/v1",
  kind: "ServiceEntry",
  metadata: { name: "ext", namespace: "shop" },
  spec: { hosts: ["api.example.com"], ports: [{ number: 443, name: "https", protocol: "TLS" }], ...spec },
});
const we = (spec: Record<string, unknown>) => ({
  apiVersion: "networking.istio.io/v1beta1",
  kind: "WorkloadEntry",
  metadata: { name: "vm-1", namespace: "shop" },
  spec,
});

void describe("ServiceEntry and WorkloadEntry validation accepts", () => {
  const cases: Array<[string, unknown]> = [
    ["DNS without endpoints", se({ resolution: "DNS", location: "MESH_EXTERNAL" })],
    [
      "STATIC with IP endpoints, named endpoint ports",
      se({ resolution: "STATIC", endpoints: [{ address: "10.0.0.1", ports: { https: 8443 }, weight: 2 }] }),
    ],
    ["NONE with addresses and a /32", se({ resolution: "NONE", addresses: ["10.1.0.1", "10.1.0.2/32"] })],
    ["DNS with hostname endpoints", se({ resolution: "DNS", endpoints: [{ address: "backend.example.com" }] })],
    ["a selector", se({ resolution: "STATIC", workloadSelector: { labels: { app: "vm" } } })],
    ["exportTo forms", se({ resolution: "DNS", exportTo: [".", "other-ns", "*"] })],
    ["a wildcard host with endpoints", se({ hosts: ["*.example.com"], resolution: "DNS", endpoints: [{ address: "1.2.3.4" }] })],
    [
      "a WorkloadEntry with every field",
      we({
        address: "10.2.0.1",
        ports: { http: 8080 },
        labels: { app: "vm" },
        network: "n",
        locality: "r/z",
        weight: 5,
        serviceAccount: "vm",
      }),
    ],
    ["a WorkloadEntry with a DNS address", we({ address: "vm1.corp.example" })],
  ];
  for (const [name, obj] of cases) {
    void it(name, () => {
      const r = validateObject(obj, origin);
      assert.ok(r.ok, r.ok ? "" : `${r.error.field}: ${r.error.reason}`);
    });
  }
});

void describe("ServiceEntry and WorkloadEntry validation refuses, naming object and field", () => {
  const cases: Array<[string, unknown, string, RegExp]> = [
    ["no hosts", se({ hosts: [] }), "spec.hosts", /at least 1/],
    ["'*' alone", se({ hosts: ["*"] }), "spec.hosts[0]", /alone is not a valid host/],
    ["a bad host", se({ hosts: ["bad_host.example.com"] }), "spec.hosts[0]", /not a valid host name/],
    ["duplicate hosts", se({ hosts: ["a.example.com", "a.example.com"] }), "spec.hosts", /duplicate host/],
    ["an address that is no IP", se({ addresses: ["example.com"] }), "spec.addresses[0]", /not an IP address/],
    ["a wide CIDR", se({ addresses: ["10.0.0.0/24"] }), "spec.addresses[0]", /only \/32/],
    [
      "duplicate port numbers",
      se({
        ports: [
          { number: 80, name: "a" },
          { number: 80, name: "b" },
        ],
      }),
      "spec.ports",
      /port number 80 is used twice/,
    ],
    [
      "duplicate port names",
      se({
        ports: [
          { number: 80, name: "a" },
          { number: 81, name: "a" },
        ],
      }),
      "spec.ports",
      /port name "a" is used twice/,
    ],
    ["an unknown protocol", se({ ports: [{ number: 80, name: "a", protocol: "QUIC" }] }), "spec.ports[0].protocol", /QUIC/],
    [
      "STATIC with a DNS endpoint",
      se({ resolution: "STATIC", endpoints: [{ address: "db.example.com" }] }),
      "spec.endpoints[0].address",
      /needs IP addresses/,
    ],
    ["STATIC without endpoints or selector", se({ resolution: "STATIC" }), "spec.endpoints", /needs endpoints or a workloadSelector/],
    [
      "endpoints and selector",
      se({ resolution: "STATIC", endpoints: [{ address: "10.0.0.1" }], workloadSelector: { labels: { a: "b" } } }),
      "spec.workloadSelector",
      /mutually exclusive/,
    ],
    [
      "DNS_ROUND_ROBIN with two endpoints",
      se({ resolution: "DNS_ROUND_ROBIN", endpoints: [{ address: "a.example.com" }, { address: "b.example.com" }] }),
      "spec.endpoints",
      /at most one/,
    ],
    [
      "a wildcard DNS host without endpoints",
      se({ hosts: ["*.example.com"], resolution: "DNS" }),
      "spec.hosts[0]",
      /wildcard host needs endpoints/,
    ],
    [
      "an endpoint port no port names",
      se({ resolution: "STATIC", endpoints: [{ address: "10.0.0.1", ports: { nope: 1 } }] }),
      "spec.endpoints[0].ports.nope",
      /no port named/,
    ],
    ["DYNAMIC_DNS", se({ resolution: "DYNAMIC_DNS" }), "spec.resolution", /not supported by weft/],
    ["'~' with others", se({ exportTo: ["~", "."] }), "spec.exportTo[0]", /cannot be combined/],
    ["a bad exportTo", se({ exportTo: ["Bad_NS"] }), "spec.exportTo[0]", /not "\."/],
    ["an unknown field", se({ hostz: ["x"] }), "spec.hostz", /unknown field/],
    ["a WorkloadEntry without address or network", we({ labels: { a: "b" } }), "spec.address", /required/],
    ["a WorkloadEntry with a bad address", we({ address: "not an address" }), "spec.address", /not an IP address or DNS name/],
    ["a WorkloadEntry with a unix socket", we({ address: "unix:///tmp/x" }), "spec.address", /unix domain socket/],
    ["a WorkloadEntry weight out of range", we({ address: "10.0.0.1", weight: -1 }), "spec.weight", /.+/],
  ];
  for (const [name, obj, field, reason] of cases) {
    void it(name, () => {
      const r = validateObject(obj, origin);
      assert.equal(r.ok, false);
      if (r.ok) return;
      assert.match(r.error.object ?? "", /^(ServiceEntry shop\/ext|WorkloadEntry shop\/vm-1)$/);
      assert.equal(r.error.field, field);
      assert.match(r.error.reason, reason);
    });
  }
});
