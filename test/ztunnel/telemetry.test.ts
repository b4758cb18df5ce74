/**
 * ztunnel's L4 telemetry against Istio's names, with two ztunnels on loopback (127.0.61.0/24):
 * node-b does not know the client workload, so the source labels it reports come from the
 * `baggage` node-a sent (upstream ztunnel's behaviour in mixed meshes); destination_service is
 * filled on the inbound side from the `forwarded` host; `/connections` lists open connections
 * on both sides; a policy deny counts in istio_tcp_connections_failed_total on both sides;
 * istio_build, xDS-less gauges, certificate expiry and conventional process metrics exist.
 * Binds loopback sockets: run under the test lock.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { once } from "node:events";
import { CertificateAuthority } from "../../src/ca/ca.js";
import { LocalCaClient } from "../../src/proxy/identity/ca-client.js";
import { Ztunnel } from "../../src/ztunnel/ztunnel.js";
import { staticZtunnelConfig } from "../support/ztunnel-config.js";
import type { Authorization } from "../../src/common/model/authorization.js";
import { TCP_LABELS } from "../../src/proxy/metrics.js";
import { service, workload } from "../support/model.js";
import { exchange, socksConnect, SocksError } from "../support/socks.js";

const SVC = "default/echo.default.svc.cluster.local";
const sleep = workload({ name: "sleep", addresses: ["127.0.61.11"], node: "node-a", serviceAccount: "sleep" });
const echoW = workload({
  name: "echo",
  addresses: ["127.0.61.21"],
  node: "node-b",
  serviceAccount: "echo",
  services: { [SVC]: [{ servicePort: 80, targetPort: 8080 }] },
});
const services = [service({ name: "echo", vips: ["127.0.61.100"], ports: [{ servicePort: 80, targetPort: 8080 }] })];

const config = (node: string, bindAddress: string, workloads: ReturnType<typeof workload>[]) =>
  staticZtunnelConfig(node, bindAddress, { workloads, services }, { clusterId: node === "node-a" ? "cluster-a" : "cluster-b" });

let za: Ztunnel, zb: Ztunnel;
let echo: net.Server;
const proxy = { host: "127.0.61.1", port: 15080 };

before(async () => {
  const ca = await CertificateAuthority.createSelfSigned({ trustDomain: "cluster.local" });
  assert.ok(ca.ok);
  const client = new LocalCaClient(ca.value);
  za = new Ztunnel(config("node-a", "127.0.61.1", [sleep, echoW]), { caClient: client, rootsPem: client.rootsPem });
  // node-b knows only its own workload: the client is "another cluster's" to it.
  zb = new Ztunnel(config("node-b", "127.0.61.2", [echoW]), { caClient: client, rootsPem: client.rootsPem });
  for (const z of [za, zb]) {
    const r = await z.start();
    assert.ok(r.ok, !r.ok ? r.error.message : "");
  }
  echo = net.createServer({ allowHalfOpen: true }, (s) => {
    s.on("error", () => {});
    s.pipe(s);
  });
  echo.listen(8080, "127.0.61.21");
  await once(echo, "listening");
});

after(async () => {
  echo.close();
  await Promise.all([za.stop(), zb.stop()]);
});

/** The label sets of a counter's samples. */
async function samples(z: Ztunnel, name: string): Promise<Array<Record<string, string>>> {
  const m = (await z.metrics.registry.getSingleMetric(name)?.get()) as
    { values: Array<{ labels: Record<string, string>; value: number }> } | undefined;
  return (m?.values ?? []).map((v) => ({ ...v.labels, value: String(v.value) }) as Record<string, string>);
}

test("telemetry: inbound labels come from baggage for an unknown source, destination_service from the forwarded host", async () => {
  const s = await socksConnect({ proxy, localAddress: "127.0.61.11", target: { host: "127.0.61.100", port: 80 } });
  assert.equal(await exchange(s, "hello"), "hello");
  const inbound = (await samples(zb, "istio_tcp_connections_opened_total")).find((l) => l.reporter === "destination");
  assert.ok(inbound);
  assert.deepEqual(
    Object.keys(inbound)
      .filter((k) => k !== "value")
      .sort(),
    [...TCP_LABELS].sort(),
    "Istio's label names, no more, no fewer",
  );
  assert.equal(inbound.source_workload, "sleep", "from baggage k8s.deployment.name");
  assert.equal(inbound.source_workload_namespace, "default");
  assert.equal(inbound.source_canonical_service, "sleep");
  assert.equal(inbound.source_cluster, "cluster1", "the client workload's cluster (node-b is cluster-b), from baggage");
  assert.equal(inbound.source_principal, "spiffe://cluster.local/ns/default/sa/sleep", "always the mTLS identity");
  assert.equal(inbound.destination_service, "echo.default.svc.cluster.local");
  assert.equal(inbound.destination_service_name, "echo");
  assert.equal(inbound.destination_service_namespace, "default");
  const outbound = (await samples(za, "istio_tcp_connections_opened_total")).find((l) => l.reporter === "source");
  assert.equal(outbound?.destination_service, "echo.default.svc.cluster.local");
  assert.equal(outbound?.destination_workload, "echo");
});

test("telemetry: /connections lists an open connection on both sides with addresses and identities", async () => {
  const s = await socksConnect({ proxy, localAddress: "127.0.61.11", target: { host: "127.0.61.100", port: 80 } });
  s.write("ping");
  await once(s, "data");
  type Conn = {
    direction: string;
    src: string;
    dst: string;
    hboneAddr?: string;
    srcIdentity: string;
    dstService: string;
    security: string;
    bytesSent: number;
  };
  const get = async (host: string) =>
    ((await (await fetch(`http://${host}:15000/connections`)).json()) as { connections: Conn[] }).connections;
  const out = (await get("127.0.61.1")).filter((c) => c.direction === "outbound");
  assert.equal(out.length, 1, JSON.stringify(out));
  assert.match(out[0]!.src, /^127\.0\.61\.11:\d+$/);
  assert.equal(out[0]!.dst, "127.0.61.100:80");
  assert.equal(out[0]!.hboneAddr, "127.0.61.21:8080");
  assert.equal(out[0]!.security, "mutual_tls");
  const inb = (await get("127.0.61.2")).filter((c) => c.direction === "inbound");
  assert.equal(inb.length, 1, JSON.stringify(inb));
  assert.equal(inb[0]!.srcIdentity, "spiffe://cluster.local/ns/default/sa/sleep");
  assert.equal(inb[0]!.dstService, "echo.default.svc.cluster.local");
  assert.ok(inb[0]!.bytesSent >= 4);
  const closed = once(s, "close");
  s.end();
  await closed;
  await new Promise((r) => setTimeout(r, 100));
  assert.equal((await get("127.0.61.2")).length, 0, "a closed connection leaves the list");
});

test("telemetry: a policy deny counts as failed with response_flags DENY on both sides", async () => {
  const deny: Authorization = {
    name: "deny-all",
    namespace: "default",
    scope: "NAMESPACE",
    action: "DENY",
    dryRun: false,
    rules: [{ clauses: [] }],
  };
  assert.ok(zb.mutator.applyAuthorizations([deny], []).ok);
  try {
    await assert.rejects(
      socksConnect({ proxy, localAddress: "127.0.61.11", target: { host: "127.0.61.100", port: 80 } }),
      (e: unknown) => e instanceof SocksError,
    );
  } finally {
    assert.ok(zb.mutator.applyAuthorizations([], ["default/deny-all"]).ok);
  }
  const inb = (await samples(zb, "istio_tcp_connections_failed_total")).find((l) => l.reporter === "destination");
  assert.equal(inb?.response_flags, "DENY");
  assert.equal(inb?.destination_service, "echo.default.svc.cluster.local");
  const out = (await samples(za, "istio_tcp_connections_failed_total")).find((l) => l.reporter === "source");
  assert.equal(out?.response_flags, "DENY", "the source side learns the deny from the 401");
  // As upstream ztunnel: opened is counted when the connection is, before its outcome, so with "-".
  for (const [z, reporter] of [
    [zb, "destination"],
    [za, "source"],
  ] as const) {
    const opened = (await samples(z, "istio_tcp_connections_opened_total")).filter((l) => l.reporter === reporter);
    assert.ok(opened.length > 0, `${reporter}: opened counted`);
    assert.deepEqual(
      opened.filter((l) => l.response_flags !== "-").map((l) => l.response_flags),
      [],
      `${reporter}: opened carries no outcome`,
    );
  }
});

test("telemetry: build info, certificate expiry and conventional process metrics", async () => {
  const text = await (await fetch("http://127.0.61.1:15020/metrics")).text();
  assert.match(text, /^istio_build\{component="ztunnel",tag="weft-\d+\.\d+\.\d+"\} 1$/m);
  const expiry =
    /^weft_workload_cert_expiry_timestamp_seconds\{identity="spiffe:\/\/cluster\.local\/ns\/default\/sa\/sleep"\} (\d+)$/m.exec(text);
  assert.ok(expiry, text);
  assert.ok(Number(expiry[1]) * 1000 > Date.now(), "expires in the future");
  assert.match(text, /^process_cpu_user_seconds_total \d/m);
  assert.match(text, /^process_resident_memory_bytes \d/m);
  assert.match(text, /^nodejs_eventloop_lag_seconds \d/m);
  assert.doesNotMatch(text, /^weft_ztunnel_process/m);
  assert.doesNotMatch(text, /^weft_xds_connected /m, "no control plane: no xDS state gauge");
});
