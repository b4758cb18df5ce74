/**
 * Control-plane push figures (docs/xds.md): a synthetic mesh of 10k workloads and 1k services
 * served by the delta ADS server over TLS on loopback, with
 *  - codec cost: encode / decode+validate of every Address resource;
 *  - time to first full push to one ztunnel xDS client (TLS connect, push, decode, validate,
 *    apply into ztunnel state);
 *  - 100 clients (raw grpc-js ADS streams in a CHILD process, so the control plane's RSS is its
 *    own): time until all are in sync, then one pod change at a time, the time until it has
 *    reached each client (p50/p99 over clients x changes), and bytes sent per change;
 *  - control plane RSS and heap.
 *
 *   node dist/bench/xds-push.js [workloads=10000] [services=1000] [clients=100] [changes=20]
 * Env: XDS_BENCH_DEBOUNCE_MS (default 10). Bounded: every wait has a timeout; the child is
 * killed on exit. Listens on 127.0.30.20 (ephemeral port).
 */
import { fork, type ChildProcess } from "node:child_process";
import { cpus, loadavg } from "node:os";
import { performance } from "node:perf_hooks";
import { Client, Metadata, credentials, type ClientDuplexStream } from "@grpc/grpc-js";
import type { Workload } from "../src/common/model/workload.js";
import type { Service } from "../src/common/model/service.js";
import { identity } from "../src/common/spiffe.js";
import { type AddressResource, decodeAddress, encodeAddress } from "../src/common/xds/address-codec.js";
import protobuf from "protobufjs";
import { type DeltaRequest, deltaAdsClientMethod } from "../src/common/xds/delta-wire.js";
import { ADDRESS_TYPE_URL } from "../src/common/xds/proto.js";
import { CertificateAuthority } from "../src/ca/ca.js";
import { issueWorkloadCertificate } from "../src/ca/issue.js";
import { AdsServer } from "../src/controlplane/xds/ads-server.js";
import { BootstrapTokenAuthenticator } from "../src/controlplane/xds/bootstrap-tokens.js";
import { startControlPlaneServer } from "../src/controlplane/xds/grpc-server.js";
import type { XdsMetrics } from "../src/controlplane/xds/metrics.js";
import { ResourceStore } from "../src/controlplane/xds/resource-store.js";
import { addressKind, authorizationKind } from "../src/controlplane/xds/resource-kind.js";
import { ProxyState } from "../src/proxy/state/state.js";
import { StateMutator } from "../src/proxy/state/mutator.js";
import { checkControlPlaneSan } from "../src/proxy/xds/channel.js";
import { XdsClient } from "../src/proxy/xds/client.js";

const HOST = "127.0.30.20";
const TOKEN = "bench-token-0123456789";
const SAN = "spiffe://cluster.local/ns/istio-system/sa/istiod";
const NODE_ID = "ztunnel~127.0.30.21~ztunnel-bench.istio-system~istio-system.svc.cluster.local";
const wallNow = () => performance.timeOrigin + performance.now();

function ip(i: number, base: number): string {
  return `${base}.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
}

function mesh(nw: number, ns: number, rev = 0): AddressResource[] {
  const out: AddressResource[] = [];
  for (let s = 0; s < ns; s++) {
    const svc: Service = {
      name: `svc-${s}`,
      namespace: `ns-${s % 50}`,
      hostname: `svc-${s}.ns-${s % 50}.svc.cluster.local`,
      addresses: [{ network: "", address: ip(s, 10) }],
      ports: [{ servicePort: 80, targetPort: 8080, appProtocol: "HTTP11" }],
      subjectAltNames: [],
    };
    out.push({ kind: "service", value: svc });
  }
  for (let i = 0; i < nw; i++) out.push({ kind: "workload", value: pod(i, ns, rev) });
  return out;
}

function pod(i: number, ns: number, rev: number): Workload {
  const s = i % ns;
  const namespace = `ns-${s % 50}`;
  return {
    uid: `cluster1//Pod/${namespace}/pod-${i}`,
    name: `pod-${i}`,
    namespace,
    addresses: [ip(i, 11)],
    network: "",
    tunnelProtocol: "HBONE",
    trustDomain: "cluster.local",
    serviceAccount: `sa-${s}`,
    node: `node-${i % 100}`,
    canonicalName: `app-${s}`,
    canonicalRevision: `v${rev}`,
    workloadType: "POD",
    workloadName: `app-${s}`,
    services: new Map([[`${namespace}/svc-${s}.${namespace}.svc.cluster.local`, [{ servicePort: 80, targetPort: 8080 }]]]),
    authorizationPolicies: [],
    status: "HEALTHY",
    clusterId: "cluster1",
    networkMode: "STANDARD",
  };
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
}

// ---------------------------------------------------------------- child: simulated clients
/**
 * The simulated clients only need type, nonce and resource names: reading just those keeps
 * 100 clients in one process (the machine may have 2 CPUs) from measuring their own decoding.
 */
interface LightResponse {
  typeUrl: string;
  nonce: string;
  names: string[];
}
function lightDecode(buf: Buffer): LightResponse {
  const r = protobuf.Reader.create(buf);
  const out: LightResponse = { typeUrl: "", nonce: "", names: [] };
  while (r.pos < r.len) {
    const tag = r.uint32();
    const field = tag >>> 3;
    if (field === 2) {
      const inner = protobuf.Reader.create(r.bytes());
      while (inner.pos < inner.len) {
        const t = inner.uint32();
        if (t >>> 3 === 3) out.names.push(inner.string());
        else inner.skipType(t & 7);
      }
    } else if (field === 4) out.typeUrl = r.string();
    else if (field === 5) out.nonce = r.string();
    else r.skipType(tag & 7);
  }
  return out;
}

async function runClients(address: string, rootsPem: string, n: number, total: number): Promise<void> {
  const send = (m: object) => process.send!(m);
  let expect: string | undefined;
  let got = new Map<number, number>();
  let synced = 0;
  const t0 = wallNow();
  const streams: Array<ClientDuplexStream<DeltaRequest, LightResponse>> = [];
  for (let c = 0; c < n; c++) {
    const client = new Client(
      address,
      credentials.createSsl(Buffer.from(rootsPem), null, null, { checkServerIdentity: (_h, cert) => checkControlPlaneSan(SAN, cert) }),
      {
        "grpc.max_receive_message_length": 64 * 1024 * 1024,
      },
    );
    const md = new Metadata();
    md.set("authorization", `Bearer ${TOKEN}`);
    const s = client.makeBidiStreamRequest(deltaAdsClientMethod.path, deltaAdsClientMethod.requestSerialize, lightDecode, md);
    let count = 0;
    s.on("data", (r: LightResponse) => {
      const now = wallNow();
      s.write({ typeUrl: r.typeUrl, subscribe: [], unsubscribe: [], initialVersions: {}, responseNonce: r.nonce });
      if (count < total) {
        count += r.names.length;
        if (count >= total && ++synced === n) send({ type: "synced", ms: wallNow() - t0 });
        return;
      }
      if (expect && r.names.includes(expect) && !got.has(c)) {
        got.set(c, now);
        if (got.size === n) {
          send({ type: "got", times: [...got.values()] });
          got = new Map();
          expect = undefined;
        }
      }
    });
    s.on("error", (e) => send({ type: "error", message: String(e) }));
    s.write({
      node: { id: NODE_ID, cluster: "" },
      typeUrl: ADDRESS_TYPE_URL,
      subscribe: ["*"],
      unsubscribe: [],
      initialVersions: {},
      responseNonce: "",
    });
    streams.push(s);
  }
  process.on("message", (m: { cmd: string; name?: string }) => {
    if (m.cmd === "expect") {
      expect = m.name;
      send({ type: "ready" });
    } else if (m.cmd === "exit") process.exit(0);
  });
}

// ---------------------------------------------------------------- parent: control plane
function waitFor<T extends { type: string }>(child: ChildProcess, type: string, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`bench: no ${type} from clients within ${ms} ms`)), ms);
    const on = (m: T) => {
      if (m.type === "error") {
        clearTimeout(t);
        child.off("message", on);
        reject(new Error(`bench client: ${(m as unknown as { message: string }).message}`));
      } else if (m.type === type) {
        clearTimeout(t);
        child.off("message", on);
        resolve(m);
      }
    };
    child.on("message", on);
  });
}

async function main(): Promise<void> {
  const [nw, ns, nc, changes] = [10000, 1000, 100, 20].map((d, i) =>
    Math.max(1, Math.min(Number(process.argv[2 + i] ?? d), [100000, 20000, 500, 200][i]!)),
  ) as [number, number, number, number];
  const debounceMs = Number(process.env.XDS_BENCH_DEBOUNCE_MS ?? 10);
  const rows: Array<[string, string, string]> = [];
  const resources = mesh(nw, ns);
  const total = resources.length;

  // Codec
  for (const r of resources.slice(0, 500)) decodeAddress(encodeAddress(r)); // warm-up
  let t = performance.now();
  const encoded = resources.map((r) => encodeAddress(r));
  const encMs = performance.now() - t;
  t = performance.now();
  for (const b of encoded) if (!decodeAddress(b).ok) throw new Error("bench: decode failed");
  const decMs = performance.now() - t;
  const bytes = encoded.reduce((n, b) => n + b.length, 0);
  rows.push([
    `encode ${total} Address resources`,
    `${encMs.toFixed(1)} ms`,
    `${(bytes / 1024).toFixed(0)} KiB total, ${(bytes / total).toFixed(0)} B each`,
  ]);
  rows.push([`decode+validate ${total} Address resources`, `${decMs.toFixed(1)} ms`, ""]);

  // Control plane
  const ca = await CertificateAuthority.createSelfSigned();
  if (!ca.ok) throw ca.error;
  const cert = await issueWorkloadCertificate(ca.value, identity("cluster.local", "istio-system", "istiod"), 3600);
  const store = new ResourceStore([addressKind, authorizationKind]);
  let sentBytes = 0;
  let lastPushAt = 0;
  const metrics: XdsMetrics = {
    clientConnected() {},
    clientDisconnected() {},
    nacked() {},
    pushed: (_t, _n, _r, b) => {
      sentBytes += b;
      lastPushAt = wallNow();
    },
  };
  const authenticator = new BootstrapTokenAuthenticator([
    { token: TOKEN, node: "node-0", identity: "spiffe://cluster.local/ns/istio-system/sa/ztunnel" },
  ]);
  const ads = new AdsServer({ store, authenticator, debounceMs, metrics });
  const server = await startControlPlaneServer({ host: HOST, port: 0, tls: { keyPem: cert.keyPem, chainPem: cert.chainPem }, ads });
  const address = `${HOST}:${server.port}`;
  t = performance.now();
  store.setAll(ADDRESS_TYPE_URL, resources);
  ads.flush();
  rows.push([`store.setAll ${total} resources (encode + hash)`, `${(performance.now() - t).toFixed(1)} ms`, ""]);

  // One real ztunnel client: full push, decode, validate, apply.
  const state = new ProxyState();
  const zt = new XdsClient({
    target: { address, rootsPem: ca.value.rootsPem, expectedSan: SAN, token: () => TOKEN },
    nodeId: NODE_ID,
    handler: new StateMutator(state),
  });
  t = performance.now();
  zt.start();
  await Promise.race([
    zt.synced(),
    new Promise((_r, rej) => setTimeout(() => rej(new Error("bench: ztunnel client did not sync in 30 s")), 30_000)),
  ]);
  const firstPush = performance.now() - t;
  zt.close();
  if ([...state.workloads()].length !== nw) throw new Error("bench: ztunnel state incomplete");
  rows.push([`first full push to one ztunnel client (${total} resources, applied)`, `${firstPush.toFixed(0)} ms`, "target < 1000 ms"]);

  const rssOne = process.memoryUsage().rss;
  rows.push([`control plane RSS after serving one client`, `${(rssOne / 1048576).toFixed(0)} MiB`, ""]);

  // 100 clients in a child process.
  const child = fork(__filename, ["--clients", address, String(nc), String(total)], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
  const killChild = () => child.kill("SIGKILL");
  process.on("exit", killChild);
  child.send({ roots: ca.value.rootsPem.join("") });
  const sync = await waitFor<{ type: string; ms: number }>(child, "synced", 120_000);
  rows.push([`${nc} clients connected and fully synced`, `${sync.ms.toFixed(0)} ms`, ""]);

  const lat: number[] = [];
  const perChange: number[] = [];
  const serverSide: number[] = [];
  for (let i = 0; i < changes; i++) {
    const target = pod(i * 37, ns, i + 1);
    child.send({ cmd: "expect", name: target.uid });
    await waitFor(child, "ready", 5000);
    const before = sentBytes;
    const t0 = wallNow();
    store.update(ADDRESS_TYPE_URL, [{ kind: "workload", value: target }]);
    const got = await waitFor<{ type: string; times: number[] }>(child, "got", 10_000);
    for (const x of got.times) lat.push(x - t0);
    serverSide.push(lastPushAt - t0);
    perChange.push(sentBytes - before);
  }
  rows.push([`one pod change reaches all ${nc} clients, p50`, `${pct(lat, 50).toFixed(1)} ms`, `debounce ${debounceMs} ms`]);
  rows.push([`one pod change reaches all ${nc} clients, p99`, `${pct(lat, 99).toFixed(1)} ms`, "target < 100 ms"]);
  rows.push([
    `  of which server side (change -> last write queued), p99`,
    `${pct(serverSide, 99).toFixed(1)} ms`,
    `p50 ${pct(serverSide, 50).toFixed(1)} ms`,
  ]);
  rows.push([
    `bytes sent per change (all ${nc} clients)`,
    `${pct(perChange, 50)} B`,
    `${(pct(perChange, 50) / nc).toFixed(0)} B per client`,
  ]);
  const mb = (x: number) => `${(x / 1048576).toFixed(0)} MiB`;
  let mem = process.memoryUsage();
  rows.push([
    `control plane RSS (${total} resources, ${nc + 1} streams served)`,
    mb(mem.rss),
    `heap ${mb(mem.heapUsed)}, buffers ${mb(mem.arrayBuffers)}; target < 500 MiB`,
  ]);
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc) {
    gc();
    await new Promise((r) => setTimeout(r, 200));
    gc();
    mem = process.memoryUsage();
    rows.push([`  same after a full GC`, mb(mem.rss), `heap ${mb(mem.heapUsed)}, buffers ${mb(mem.arrayBuffers)}`]);
  }

  child.send({ cmd: "exit" });
  await server.close(100);
  const w = Math.max(...rows.map((r) => r[0].length));
  const load = loadavg()
    .map((x) => x.toFixed(1))
    .join(" ");
  console.log(
    `\nxds push benchmark: ${nw} workloads, ${ns} services, ${nc} clients, ${changes} changes; node ${process.version}, ${cpus().length} CPUs, load ${load}\n`,
  );
  for (const [a, b, c] of rows) console.log(`${a.padEnd(w)}  ${b.padStart(10)}  ${c}`);
  process.exit(0);
}

if (process.argv[2] === "--clients") {
  process.once("message", (m: { roots: string }) => {
    void runClients(process.argv[3]!, m.roots, Number(process.argv[4]), Number(process.argv[5]));
  });
} else {
  main().catch((e: unknown) => {
    console.error(e);
    process.exit(1);
  });
}
