import { test } from "node:test";
import assert from "node:assert/strict";
import { missingCertificates, unknownPodAddresses } from "./settled.js";

const pods = [
  { namespace: "dual", name: "client", ip: "10.0.0.2", ips: ["10.0.0.2", "fd00::2"] },
  { namespace: "dual", name: "server", ip: "10.0.1.2", ips: ["10.0.1.2", "fd00:0:0:1::2"] },
  { namespace: "v4", name: "old", ip: "10.0.0.9" },
];

test("unknownPodAddresses: what a ztunnel's config dump does not know yet", () => {
  const cases: [string, unknown, string[]][] = [
    [
      "an empty dump knows nothing",
      {},
      ["dual/client 10.0.0.2", "dual/client fd00::2", "dual/server 10.0.1.2", "dual/server fd00:0:0:1::2", "v4/old 10.0.0.9"],
    ],
    [
      "not an object",
      null,
      ["dual/client 10.0.0.2", "dual/client fd00::2", "dual/server 10.0.1.2", "dual/server fd00:0:0:1::2", "v4/old 10.0.0.9"],
    ],
    [
      "every address known (IPv6 in another spelling, IPv4-mapped) is settled",
      {
        workloads: [
          { addresses: ["10.0.0.2", "FD00:0::2"] },
          { addresses: ["::ffff:10.0.1.2", "fd00:0:0:1:0:0:0:2"] },
          { addresses: ["10.0.0.9"] },
        ],
      },
      [],
    ],
    [
      "a dual-stack pod known by its IPv4 address only is not settled (the IPv6 call would be passthrough)",
      { workloads: [{ addresses: ["10.0.0.2", "fd00::2"] }, { addresses: ["10.0.1.2"] }, { addresses: ["10.0.0.9"] }] },
      ["dual/server fd00:0:0:1::2"],
    ],
    [
      "garbage entries are ignored, not trusted",
      { workloads: [null, { addresses: "10.0.0.2" }, { addresses: [7, "not-an-ip"] }, { addresses: ["10.0.0.9"] }] },
      ["dual/client 10.0.0.2", "dual/client fd00::2", "dual/server 10.0.1.2", "dual/server fd00:0:0:1::2"],
    ],
  ];
  for (const [name, dump, want] of cases) assert.deepEqual(unknownPodAddresses(dump, pods), want, name);
});

test("missingCertificates: the node's enrolled workloads without an issued certificate", () => {
  const w = (name: string, node: string, tunnelProtocol: string, serviceAccount = name) => ({
    name,
    namespace: "dual",
    node,
    tunnelProtocol,
    trustDomain: "cluster.local",
    serviceAccount,
  });
  const id = (sa: string) => `spiffe://cluster.local/ns/dual/sa/${sa}`;
  const workloads = [w("client", "node-0", "HBONE"), w("server", "node-1", "HBONE"), w("plain", "node-0", "NONE")];
  const cases: [string, unknown, string[]][] = [
    ["nothing issued yet", { workloads, certificates: [] }, ["dual/client certificate spiffe://cluster.local/ns/dual/sa/client"]],
    [
      "a fetch in flight (no serial) is not issued",
      { workloads, certificates: [{ identity: id("client"), state: "initializing" }] },
      ["dual/client certificate spiffe://cluster.local/ns/dual/sa/client"],
    ],
    [
      "issued: settled; other nodes' and NONE workloads do not count",
      { workloads, certificates: [{ identity: id("client"), serial: "01" }] },
      [],
    ],
    ["no dump", null, []],
  ];
  for (const [name, dump, want] of cases) assert.deepEqual(missingCertificates(dump, "node-0"), want, name);
});
