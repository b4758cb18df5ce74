/**
 * Fuzz targets against live listeners over loopback (127.0.90.0/24, no root): two real ztunnels
 * (static config, certificates from a real CA) with an echo server behind node-b, and the real
 * control plane serving a folder of YAML. Targets: raw bytes at node-b's HBONE port 15008 (the
 * TLS layer), HTTP/2 frames inside a verified mTLS connection to 15008, bytes at node-a's SOCKS5
 * port 15080, raw bytes at the control plane's 15012, and single gRPC messages on its delta ADS
 * stream and CA method.
 *
 * Oracle per input: the listener answers or closes within a bound once the fuzzer has sent the
 * input and half-closed (a hang is a failure). After a run (`settle`): every connection,
 * session and stream the inputs opened is gone, memory stayed bounded, and each listener still
 * serves a valid request (a SOCKS5 call through both ztunnels, an ADS subscription answered).
 * Traffic never leaves loopback: a fuzzed SOCKS5 request for an address outside 127.0.0.0/8 or
 * ::1 is pointed at 127.0.90.99 before it is sent (ztunnel would otherwise pass it through).
 */
import assert from "node:assert/strict";
import net from "node:net";
import tls from "node:tls";
import { once } from "node:events";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Client, Metadata, credentials, type ServiceError } from "@grpc/grpc-js";
import { CertificateAuthority } from "../../src/ca/ca.js";
import { issueWorkloadCertificate } from "../../src/ca/issue.js";
import { identity } from "../../src/common/spiffe.js";
import type { WorkloadCertificate } from "../../src/common/tls/types.js";
import { DELTA_ADS_PATH } from "../../src/common/xds/delta-wire.js";
import { CREATE_CERTIFICATE_PATH } from "../../src/common/xds/ca-wire.js";
import { ControlPlane, authenticatorFor } from "../../src/controlplane/controlplane.js";
import { loadControlPlaneConfig } from "../../src/controlplane/config.js";
import { LocalCaClient } from "../../src/proxy/identity/ca-client.js";
import { clientTlsOptions } from "../../src/proxy/hbone/tls-context.js";
import { checkControlPlaneSan } from "../../src/proxy/xds/channel.js";
import { Ztunnel } from "../../src/ztunnel/ztunnel.js";
import { parseGreeting, parseRequest } from "../../src/ztunnel/traffic/socks5.js";
import { service, workload } from "../support/model.js";
import { exchange, socksConnect } from "../support/socks.js";
import { staticZtunnelConfig } from "../support/ztunnel-config.js";
import { encodeSubscribe } from "./seeds.js";
import type { FuzzTarget } from "./runner.js";

export const NET = "127.0.90";
const A = `${NET}.1`;
const B = `${NET}.2`;
const CP = `${NET}.5`;
const SLEEP = `${NET}.11`;
const ECHO = `${NET}.21`;
const VIP = `${NET}.100`;
/** The fuzzer's own source address: connections from it are the inputs' (node-a's pool dials from SLEEP). */
const FUZZER = `${NET}.50`;
export const CP_SAN = "spiffe://cluster.local/ns/istio-system/sa/istiod";
const TOKEN = "token-fuzz-node-0123456789";

/** How long a listener may take to close a connection after the fuzzer half-closed it. */
export const CLOSE_BOUND_MS = 3000;

const workloads = [
  workload({ name: "sleep", addresses: [SLEEP], node: "node-a", serviceAccount: "sleep" }),
  workload({
    name: "echo",
    addresses: [ECHO],
    node: "node-b",
    serviceAccount: "echo",
    services: { "default/echo.default.svc.cluster.local": [{ servicePort: 80, targetPort: 8080 }] },
  }),
];
const services = [service({ name: "echo", vips: [VIP], ports: [{ servicePort: 80, targetPort: 8080 }] })];

/** Resolves when `s` closes; rejects naming `what` when it has not within `ms`. */
function closedWithin(s: net.Socket, ms: number, what: string): Promise<void> {
  if (s.destroyed && s.closed) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      s.destroy();
      reject(new Error(`hang: ${what} neither answered nor closed within ${ms} ms of the input`));
    }, ms);
    s.once("close", () => {
      clearTimeout(t);
      resolve();
    });
  });
}

/** Points a SOCKS5 request's IP target at loopback when it is not (ztunnel passes unknown IPs through). */
export function keepOnLoopback(input: Buffer): Buffer {
  const g = parseGreeting(input);
  if (g.state !== "done") return input;
  const r = parseRequest(input.subarray(g.consumed));
  if (r.state !== "done" || r.value.kind !== "ip") return input;
  const ip = r.value.ip;
  if (ip.startsWith("127.") || ip === "::1") return input;
  const out = Buffer.from(input);
  const at = g.consumed + 4;
  if (input[g.consumed + 3] === 1) Buffer.from([127, 0, 90, 99]).copy(out, at);
  else out.fill(0, at, at + 15).writeUInt8(1, at + 15);
  return out;
}

export interface LiveMesh {
  readonly targets: readonly FuzzTarget[];
  /** Waits until the inputs' connections are gone, then checks that every listener still serves. */
  settle(): Promise<void>;
  close(): Promise<void>;
}

export async function startLiveMesh(): Promise<LiveMesh> {
  const dir = mkdtempSync(path.join(tmpdir(), "weft-fuzz-"));
  const ca = await CertificateAuthority.createSelfSigned({ trustDomain: "cluster.local" });
  assert.ok(ca.ok);
  const caClient = new LocalCaClient(ca.value);
  const cfg = (node: string, bind: string) =>
    staticZtunnelConfig(node, bind, { workloads, services }, node === "node-a" ? { outboundListeners: [{ ip: VIP, port: 80 }] } : {});
  const za = new Ztunnel(cfg("node-a", A), { caClient, rootsPem: caClient.rootsPem });
  const zb = new Ztunnel(cfg("node-b", B), { caClient, rootsPem: caClient.rootsPem });
  for (const z of [za, zb]) {
    const r = await z.start();
    assert.ok(r.ok, !r.ok ? r.error.message : "");
  }
  const echo = net.createServer({ allowHalfOpen: true }, (s) => {
    s.on("error", () => {});
    s.pipe(s);
  });
  echo.listen(8080, ECHO);
  await once(echo, "listening");
  const clientCert: WorkloadCertificate = await issueWorkloadCertificate(ca.value, identity("cluster.local", "default", "sleep"), 3600);

  // The control plane: a folder with one namespace, and a bootstrap token.
  writeFileSync(path.join(dir, "ns.yaml"), "apiVersion: v1\nkind: Namespace\nmetadata: { name: demo }\n");
  writeFileSync(
    path.join(dir, "tokens.yaml"),
    JSON.stringify([{ token: TOKEN, node: "node-a", identity: "spiffe://cluster.local/ns/istio-system/sa/ztunnel" }]),
  );
  const cpc = loadControlPlaneConfig(
    [
      "--config-dir",
      dir,
      "--ca-dir",
      path.join(dir, "ca"),
      "--listen",
      `${CP}:0`,
      "--monitor",
      `${CP}:0`,
      "--tokens",
      path.join(dir, "tokens.yaml"),
    ],
    {},
  );
  assert.ok(cpc.ok, !cpc.ok ? cpc.error.message : "");
  const cp = new ControlPlane(cpc.value, authenticatorFor(cpc.value));
  const started = await cp.start();
  assert.ok(started.ok, !started.ok ? started.error.message : "");
  const grpc = new Client(
    `${CP}:${cp.port}`,
    credentials.createSsl(Buffer.from(cp.rootsPem.join("")), null, null, {
      checkServerIdentity: (_h, c) => checkControlPlaneSan(CP_SAN, c),
    }),
    // A DNS name as SNI (Node warns about an IP there); the SAN check above is what verifies.
    { "grpc.ssl_target_name_override": "istiod.istio-system.svc" },
  );
  const md = () => {
    const m = new Metadata();
    m.set("authorization", `Bearer ${TOKEN}`);
    return m;
  };
  const raw = (b: Buffer) => b;

  const tcpTarget = (name: string, corpus: string, host: string, port: number, local?: string): FuzzTarget => ({
    name,
    corpus,
    maxLen: 8192,
    watchdogMs: CLOSE_BOUND_MS + 2000,
    async run(input) {
      const s = net.connect({ host, port, localAddress: local ?? FUZZER });
      s.on("error", () => {});
      await once(s, "connect");
      s.end(name === "socks5-live" ? keepOnLoopback(input) : input);
      s.resume();
      await closedWithin(s, CLOSE_BOUND_MS, `${host}:${port}`);
    },
  });

  const h2Target: FuzzTarget = {
    name: "hbone-h2",
    maxLen: 16384,
    watchdogMs: CLOSE_BOUND_MS + 2000,
    async run(input) {
      const tcp = net.connect({ host: ECHO, port: 15008, localAddress: FUZZER });
      tcp.on("error", () => {});
      const s = tls.connect({ socket: tcp, ...clientTlsOptions(clientCert, { expected: [identity("cluster.local", "default", "echo")] }) });
      s.on("error", () => {});
      await once(s, "secureConnect");
      s.end(input);
      s.resume();
      await closedWithin(s, CLOSE_BOUND_MS, "HBONE over mTLS");
    },
  };

  const grpcCall = (name: string, corpus: string, pathName: string, stream: boolean): FuzzTarget => ({
    name,
    corpus,
    maxLen: 8192,
    watchdogMs: CLOSE_BOUND_MS + 2000,
    async run(input) {
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => {
          call.cancel();
          reject(new Error(`hang: ${pathName} did not end the call within ${CLOSE_BOUND_MS} ms of the client's half-close`));
        }, CLOSE_BOUND_MS);
        const done = () => {
          clearTimeout(t);
          resolve();
        };
        const call = stream
          ? grpc.makeBidiStreamRequest(pathName, raw, raw, md())
          : grpc.makeUnaryRequest(pathName, raw, raw, input, md(), () => done());
        if (stream) {
          const bidi = call as ReturnType<Client["makeBidiStreamRequest"]>;
          bidi.on("data", () => {});
          bidi.on("error", (_e: ServiceError) => done());
          bidi.on("status", () => done());
          bidi.write(input);
          bidi.end();
        }
      });
    },
  });

  const targets: FuzzTarget[] = [
    tcpTarget("hbone-tls", "tls-client", ECHO, 15008),
    h2Target,
    tcpTarget("socks5-live", "socks5", A, 15080, SLEEP),
    tcpTarget("controlplane-tls", "tls-client", CP, cp.port),
    grpcCall("xds-live", "xds-request", DELTA_ADS_PATH, true),
    grpcCall("ca-live", "ca-request", CREATE_CERTIFICATE_PATH, false),
  ];

  const heapAtStart = process.memoryUsage().heapUsed;
  async function settle(): Promise<void> {
    const deadline = Date.now() + 5000;
    // node-a's pool may keep its idle HBONE connection to node-b (from SLEEP): not the inputs'.
    const open = () => ({
      hboneConnections: zb.hbone.stats().connections - zb.hbone.dump().filter((c) => !c.remote.startsWith(`${FUZZER}:`)).length,
      streams: zb.hbone.stats().streams,
      tracked: za.connections.size + zb.connections.size,
    });
    while (Object.values(open()).some((n) => n > 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(open(), { hboneConnections: 0, streams: 0, tracked: 0 }, "connections left open after the inputs closed");
    const heapMb = (process.memoryUsage().heapUsed - heapAtStart) / 2 ** 20;
    assert.ok(heapMb < 128, `heap grew by ${heapMb.toFixed(0)} MB during the run`);
    // Still serving: a SOCKS5 call through both ztunnels, and an ADS subscription answered.
    const s = await socksConnect({ proxy: { host: A, port: 15080 }, localAddress: SLEEP, target: { host: VIP, port: 80 } });
    assert.equal(await exchange(s, "still serving"), "still serving");
    await new Promise<void>((resolve, reject) => {
      const call = grpc.makeBidiStreamRequest(DELTA_ADS_PATH, raw, raw, md());
      const t = setTimeout(() => {
        call.cancel();
        reject(new Error("the control plane did not answer a valid subscription after the run"));
      }, 5000);
      call.on("data", () => {
        clearTimeout(t);
        call.cancel();
        resolve();
      });
      call.on("error", () => {});
      call.write(encodeSubscribe("ztunnel~127.0.90.1~ztunnel-a.istio-system~istio-system.svc.cluster.local"));
    });
  }

  return {
    targets,
    settle,
    async close() {
      grpc.close();
      echo.close();
      await Promise.all([za.stop(), zb.stop()]);
      await cp.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
