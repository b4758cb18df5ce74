import { test } from "node:test";
import assert from "node:assert/strict";
import { accessLogFields } from "./access-log.js";
import { type TcpLabels, TCP_LABELS } from "./metrics.js";

const labels = (over: Partial<TcpLabels>): TcpLabels => ({
  ...(Object.fromEntries(TCP_LABELS.map((k) => [k, "unknown"])) as TcpLabels),
  ...over,
});

test("accessLogFields: upstream ztunnel's field names; identities only with mTLS; unknowns left out", () => {
  const l = labels({
    reporter: "destination",
    source_workload_namespace: "demo",
    source_principal: "spiffe://cluster.local/ns/demo/sa/client",
    source_canonical_service: "client",
    destination_service: "web.demo.svc.cluster.local",
    destination_workload_namespace: "demo",
    destination_principal: "spiffe://cluster.local/ns/demo/sa/web",
    destination_canonical_service: "web",
    connection_security_policy: "mutual_tls",
  });
  const info = { src: "10.0.0.1:4000", dst: "10.0.0.2:15008", hboneAddr: "10.0.0.2:8080", dstName: "web-0", policy: "allow" };
  assert.deepEqual(accessLogFields(l, info, { bytesRead: 10, bytesWritten: 20, durationMs: 12.4 }), {
    "src.addr": "10.0.0.1:4000",
    "src.workload": "client",
    "src.namespace": "demo",
    "src.identity": "spiffe://cluster.local/ns/demo/sa/client",
    "dst.addr": "10.0.0.2:15008",
    "dst.hbone_addr": "10.0.0.2:8080",
    "dst.service": "web.demo.svc.cluster.local",
    "dst.workload": "web-0",
    "dst.namespace": "demo",
    "dst.identity": "spiffe://cluster.local/ns/demo/sa/web",
    direction: "inbound",
    policy: "allow",
    bytes_sent: 10,
    bytes_recv: 20,
    duration: "12ms",
  });
  const plain = accessLogFields(
    { ...l, connection_security_policy: "unknown", reporter: "source" },
    { src: "a", dst: "b" },
    { bytesRead: 0, bytesWritten: 0, durationMs: 0, error: "CONNECT" },
  );
  assert.equal(plain["src.identity"], undefined);
  assert.equal(plain["dst.identity"], undefined);
  assert.equal(plain.direction, "outbound");
  assert.equal(plain.error, "CONNECT");
  assert.equal(
    accessLogFields(labels({ reporter: "source" }), { src: "a", dst: "b" })["bytes_sent"],
    undefined,
    "the open line has no byte counts",
  );
});
