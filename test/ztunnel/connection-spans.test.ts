/**
 * ztunnel's connection spans (weft's addition, `--tracing-otlp`, src/proxy/otlp-spans.ts) into a
 * real OpenTelemetry Collector (scripts/otelcol.sh: OTLP receiver, debug exporter), with two
 * ztunnels on loopback (127.0.63.0/24): node-a exports every connection (sampling 100), node-b
 * none (sampling 0), so a connection through both gives exactly one span, node-a's outbound
 * CLIENT span, whose attributes are the access log's fields (identities, service, bytes,
 * duration); a policy deny on node-b with sampling 100 gives an inbound SERVER span with
 * error status and the deny. Without --tracing-otlp nothing loads (the default).
 * Binds loopback sockets: run under the test lock.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { once } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { CertificateAuthority } from "../../src/ca/ca.js";
import { LocalCaClient } from "../../src/proxy/identity/ca-client.js";
import { Ztunnel } from "../../src/ztunnel/ztunnel.js";
import { loadZtunnelConfig } from "../../src/ztunnel/config.js";
import type { Authorization } from "../../src/common/model/authorization.js";
import { staticZtunnelConfig } from "../support/ztunnel-config.js";
import { service, workload } from "../support/model.js";
import { exchange, socksConnect, SocksError } from "../support/socks.js";
import { Collector } from "../support/otelcol.js";

const COLLECTOR = "127.0.63.40:4317";
const work = mkdtempSync(path.join(tmpdir(), "weft-conn-spans-"));
const SVC = "default/echo.default.svc.cluster.local";
const sleep = workload({ name: "sleep", addresses: ["127.0.63.11"], node: "node-a", serviceAccount: "sleep" });
const echoW = workload({
  name: "echo",
  addresses: ["127.0.63.21"],
  node: "node-b",
  serviceAccount: "echo",
  services: { [SVC]: [{ servicePort: 80, targetPort: 8080 }] },
});
const services = [service({ name: "echo", vips: ["127.0.63.100"], ports: [{ servicePort: 80, targetPort: 8080 }] })];
const proxy = { host: "127.0.63.1", port: 15080 };

let collector: Collector;
let za: Ztunnel, zb: Ztunnel;
let echo: net.Server;

before(async () => {
  collector = await Collector.start(work, { grpc: COLLECTOR });

  const ca = await CertificateAuthority.createSelfSigned({ trustDomain: "cluster.local" });
  assert.ok(ca.ok);
  const client = new LocalCaClient(ca.value);
  const cfgOf = (node: string, ip: string, samplingPercent: number) =>
    staticZtunnelConfig(node, ip, { workloads: [sleep, echoW], services }, { tracing: { collector: COLLECTOR, samplingPercent } });
  za = new Ztunnel(cfgOf("node-a", "127.0.63.1", 100), { caClient: client, rootsPem: client.rootsPem });
  zb = new Ztunnel(cfgOf("node-b", "127.0.63.2", 0), { caClient: client, rootsPem: client.rootsPem });
  for (const z of [za, zb]) {
    const r = await z.start();
    assert.ok(r.ok, !r.ok ? r.error.message : "");
  }
  echo = net.createServer({ allowHalfOpen: true }, (s) => {
    s.on("error", () => {});
    s.pipe(s);
  });
  echo.listen(8080, "127.0.63.21");
  await once(echo, "listening");
});

after(async () => {
  echo?.close();
  await Promise.all([za?.stop(), zb?.stop()]);
  collector?.stop();
  rmSync(work, { recursive: true, force: true });
});

test("connection spans: one CLIENT span from the sampling ztunnel, the access log's fields as attributes", async () => {
  const s = await socksConnect({ proxy, localAddress: "127.0.63.11", target: { host: "127.0.63.100", port: 80 } });
  assert.equal(await exchange(s, "hello spans"), "hello spans");
  s.end();
  await once(s, "close");
  const span = await collector.spanWith((x) => x.service === "ztunnel.node-a", "from node-a");
  assert.equal(span.kind, "Client");
  assert.equal(span.name, "outbound echo.default.svc.cluster.local");
  assert.equal(span.attributes.direction, "outbound");
  assert.match(span.attributes["src.addr"]!, /^127\.0\.63\.11:\d+$/);
  assert.equal(span.attributes["dst.addr"], "127.0.63.100:80");
  assert.equal(span.attributes["dst.hbone_addr"], "127.0.63.21:8080");
  assert.equal(span.attributes["dst.service"], "echo.default.svc.cluster.local");
  assert.equal(span.attributes["src.identity"], "spiffe://cluster.local/ns/default/sa/sleep");
  assert.equal(span.attributes["dst.identity"], "spiffe://cluster.local/ns/default/sa/echo");
  // The access log's counts: what the app's socket carried (here with its SOCKS5 handshake).
  assert.ok(Number(span.attributes.bytes_sent) >= 11, span.attributes.bytes_sent);
  assert.ok(Number(span.attributes.bytes_recv) >= 11, span.attributes.bytes_recv);
  assert.match(span.attributes.duration!, /^\d+ms$/);
  assert.notEqual(span.status, "Error");
  // node-b samples 0 %: no span of its own for the same connection.
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal(collector.spans().filter((x) => x.service === "ztunnel.node-b").length, 0, "sampling 0: no span");
});

test("connection spans: a denied connection is an inbound SERVER span with error status and the deny", async () => {
  const deny: Authorization = {
    name: "deny-all",
    namespace: "default",
    scope: "NAMESPACE",
    action: "DENY",
    dryRun: false,
    rules: [{ clauses: [] }],
  };
  const zbSampling = zb.metrics.spans;
  assert.ok(zbSampling, "node-b has a span sink (sampling 0)");
  // node-b sampled at 100 % for this connection: the same class, made with 100.
  const { ConnectionSpans } = await import("../../src/proxy/otlp-spans.js");
  const full = new ConnectionSpans({ collector: COLLECTOR, samplingPercent: 100, serviceName: "ztunnel.node-b" });
  zb.metrics.spans = full;
  assert.ok(zb.mutator.applyAuthorizations([deny], []).ok);
  try {
    await assert.rejects(
      socksConnect({ proxy, localAddress: "127.0.63.11", target: { host: "127.0.63.100", port: 80 } }),
      (e: unknown) => e instanceof SocksError,
    );
    await full.flush();
    const span = await collector.spanWith((x) => x.service === "ztunnel.node-b", "from node-b");
    assert.equal(span.kind, "Server");
    assert.equal(span.attributes.direction, "inbound");
    assert.equal(span.status, "Error");
    assert.match(span.attributes.error ?? "", /policy rejection: denied: denied by DENY policy default\/deny-all rule 0$/);
    assert.equal(span.attributes["src.identity"], "spiffe://cluster.local/ns/default/sa/sleep");
  } finally {
    assert.ok(zb.mutator.applyAuthorizations([], ["default/deny-all"]).ok);
    zb.metrics.spans = zbSampling;
    await full.close();
  }
});

test("connection spans are off by default; --tracing-otlp and --tracing-sampling are checked", () => {
  const base = ["--node", "n", "--ca-dir", "/nonexistent"];
  const off = loadZtunnelConfig(base, {});
  assert.ok(off.ok, !off.ok ? off.error.message : "");
  assert.equal(off.value.tracing, undefined);
  const on = loadZtunnelConfig([...base, "--tracing-otlp", "otel.obs:4317"], {});
  assert.ok(on.ok);
  assert.deepEqual(on.value.tracing, { collector: "otel.obs:4317", samplingPercent: 1 });
  for (const [args, want] of [
    [["--tracing-otlp", "nope"], /^ztunnel: tracing-otlp must be HOST:PORT, not "nope"$/],
    [["--tracing-otlp", "a:1", "--tracing-sampling", "200"], /^ztunnel: tracing-sampling must be a percentage in \[0, 100\], not "200"$/],
  ] as const) {
    const r = loadZtunnelConfig([...base, ...args], {});
    assert.ok(!r.ok);
    assert.match(r.error.message, want);
  }
});
