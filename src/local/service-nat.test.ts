import { test } from "node:test";
import assert from "node:assert/strict";
import type { LocalPod, LocalService } from "./manifests.js";
import { renderServiceNat, vipRules } from "./service-nat.js";

const pod = (name: string, labels: Record<string, string>): LocalPod => ({
  namespace: "demo",
  name,
  labels,
  annotations: {},
  serviceAccount: "default",
  node: "node-0",
  dir: "/",
  containers: [{ name: "c", argv: ["x"], env: {}, ports: [{ name: "http", containerPort: 8080 }] }],
});
const svc: LocalService = {
  namespace: "demo",
  name: "web",
  clusterIP: "198.19.207.1",
  selector: { app: "web" },
  ports: [
    { port: 80, targetPort: "http", protocol: "TCP" },
    { port: 53, targetPort: 53, protocol: "UDP" },
  ],
};

test("vipRules: endpoints are selected pods with an IP, named target ports resolved; UDP skipped", () => {
  const pods = [pod("a", { app: "web" }), pod("b", { app: "web" }), pod("c", { app: "db" }), pod("d", { app: "web" })];
  const ips = new Map([
    ["demo/a", ["198.19.201.2"]],
    ["demo/b", ["198.19.202.2"]],
    ["demo/c", ["198.19.201.3"]],
  ]);
  assert.deepEqual(vipRules([svc], pods, ips), [
    {
      vip: "198.19.207.1",
      port: 80,
      endpoints: [
        { ip: "198.19.201.2", port: 8080 },
        { ip: "198.19.202.2", port: 8080 },
      ],
    },
  ]);
  assert.deepEqual(vipRules([{ ...svc, clusterIP: undefined }], pods, ips), [], "headless services get no rule");
});

test("renderServiceNat: skips captured packets first, then one random choice per VIP", () => {
  const text = renderServiceNat(
    [
      {
        vip: "198.19.207.1",
        port: 80,
        endpoints: [
          { ip: "198.19.201.2", port: 8080 },
          { ip: "198.19.202.2", port: 8080 },
        ],
      },
      { vip: "198.19.207.2", port: 80, endpoints: [{ ip: "198.19.201.3", port: 9090 }] },
      { vip: "198.19.207.3", port: 80, endpoints: [] },
    ],
    0x111,
    0xfff,
  );
  const lines = text.split("\n").map((l) => l.trim());
  const skip = lines.findIndex((l) => l.startsWith("meta mark & 0xfff == 0x111 accept"));
  const first = lines.findIndex((l) => l.startsWith("ip daddr 198.19.207.1 tcp dport 80 jump svc0"));
  assert.ok(skip > 0 && first > skip, "the capture-mark rule comes before any DNAT");
  assert.ok(lines.includes("numgen random mod 2 vmap { 0 : jump svc0e0, 1 : jump svc0e1 }"));
  assert.ok(!text.includes("198.19.207.3"), "a VIP without endpoints gets no rule");
  assert.match(text, /^table inet weft-svc\ndelete table inet weft-svc\n/, "replaces the previous table atomically");
  assert.ok(lines.includes("meta l4proto tcp dnat ip to 198.19.202.2:8080"));
  assert.ok(lines.includes("meta l4proto tcp dnat ip to 198.19.201.3:9090"));
});

test("vipRules, dual stack: each cluster IP goes to the endpoints' addresses of its own family", () => {
  const dual: LocalService = { ...svc, clusterIP: "198.19.207.1", clusterIPs: ["198.19.207.1", "fd00:5745:4654:ffff::1"] };
  const pods = [pod("a", { app: "web" }), pod("b", { app: "web" })];
  const ips = new Map([
    ["demo/a", ["198.19.201.2", "fd00:5745:4654:100::2"]],
    ["demo/b", ["198.19.202.2"]], // IPv4 only: no IPv6 endpoint
  ]);
  assert.deepEqual(vipRules([dual], pods, ips), [
    {
      vip: "198.19.207.1",
      port: 80,
      endpoints: [
        { ip: "198.19.201.2", port: 8080 },
        { ip: "198.19.202.2", port: 8080 },
      ],
    },
    { vip: "fd00:5745:4654:ffff::1", port: 80, endpoints: [{ ip: "fd00:5745:4654:100::2", port: 8080 }] },
  ]);
  const text = renderServiceNat(vipRules([dual], pods, ips), 0x111, 0xfff);
  const lines = text.split("\n").map((l) => l.trim());
  assert.ok(lines.includes("ip daddr 198.19.207.1 tcp dport 80 jump svc0"), text);
  assert.ok(lines.includes("ip6 daddr fd00:5745:4654:ffff::1 tcp dport 80 jump svc1"), text);
  assert.ok(lines.includes("meta l4proto tcp dnat ip6 to [fd00:5745:4654:100::2]:8080"), text);
});
