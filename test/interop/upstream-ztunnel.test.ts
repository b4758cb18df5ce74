/**
 * Interop with upstream Istio's ztunnel (istio/ztunnel, built from source outside this tree),
 * on both of weft's HBONE engines. Runs when `WEFT_UPSTREAM_ZTUNNEL=/path/to/ztunnel` is set
 * (and as root: network namespaces); otherwise it skips loudly. How the binary is built and what
 * this checks, with the results per engine: docs/hbone.md "Interop with upstream ztunnel, both
 * engines".
 *
 * Two namespaces this test creates, joined by one veth pair, 198.19.216.0/24 (RFC 2544):
 *
 *   wefttest-zi-<id>-w  .1  weft control plane (xDS + CA :15012, monitor :15014) and weft's
 *                           ztunnel for node-a (admin/metrics/readiness/SOCKS5 on .1),
 *                       .11 pod default/sleep (sa sleep), .21 pod default/echo (sa echo):
 *                           echo servers on .21:8080 and .21:8081
 *   wefttest-zi-<id>-u  .2  pod default/up-0 (sa up), served by upstream ztunnel in dedicated
 *                           mode (its 15001/15006/15008 on the wildcard, SOCKS5 on 127.0.0.1:15080),
 *                           echo servers on .2:8080 and .2:8081
 *
 * Upstream ztunnel gets its config and certificate from weft's control plane only (XDS_ADDRESS,
 * CA_ADDRESS, the mesh root, a bootstrap token for identity default/up). The mesh has one policy,
 * a namespace-wide DENY of port 8081 from sleep and up, so each side's 8081 is refused by the
 * ztunnel in front of it: weft decides for echo, upstream decides for up-0.
 *
 * WEFT_INTEROP_VERBOSE=1 prints each step, WEFT_INTEROP_KEEP=1 keeps the logs folder,
 * WEFT_INTEROP_PCAP=1 captures HBONE on the veth with weft's TLS key log beside it.
 *
 * Per engine (weft's ztunnel restarted with `--hbone-engine node`, then `native`):
 *   1. upstream ztunnel ACKed Address and Authorization (no NACK), knows weft's pods and the
 *      policy, and holds the certificate weft's CA issued for spiffe://.../sa/up;
 *   2. upstream -> weft: bytes echoed through HBONE, weft's server saw the SAN
 *      spiffe://cluster.local/ns/default/sa/up, upstream's client the SAN .../sa/echo;
 *   3. weft -> upstream: bytes echoed, upstream's server saw .../sa/sleep, weft's client .../sa/up;
 *   4. port 8081 refused both ways, no byte reached either echo server, each ztunnel counted
 *      the denial as the destination.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { X509Certificate } from "node:crypto";
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Netns, isRoot, removeNetnsWithPrefix, runId, vethPair } from "../support/netns.js";
import { Agent } from "../capture/topology.js";
import { until as untilSupport } from "../support/until.js";

const UPSTREAM = process.env.WEFT_UPSTREAM_ZTUNNEL ?? "";
const SKIP_REASON = !UPSTREAM
  ? "WEFT_UPSTREAM_ZTUNNEL is not set (path to an upstream istio/ztunnel binary; how to build one: docs/hbone.md " +
    '"Interop with upstream ztunnel, both engines")'
  : !isRoot()
    ? "needs root (network namespaces)"
    : undefined;

const NS_PREFIX = "wefttest-zi-";
const NET = "198.19.216";
const WEFT = `${NET}.1`;
const UP = `${NET}.2`;
const SLEEP = `${NET}.11`;
const ECHO = `${NET}.21`;
const TD = "cluster.local";
const SA = (ns: string, sa: string) => `spiffe://${TD}/ns/${ns}/sa/${sa}`;
const UP_NODE_ID = `ztunnel~${UP}~up-0.default~default.svc.cluster.local`;
const MAIN_JS = path.resolve(__dirname, "../../src/cli/main.js");
const AGENT_JS = path.join(__dirname, "ns-agent.js");
const ENGINES = ["node", "native"] as const;

const dir = mkdtempSync(path.join(tmpdir(), "weft-interop-"));
const caDir = path.join(dir, "ca");
const configDir = path.join(dir, "config");
const children: ChildProcess[] = [];
const agents: Agent[] = [];
const namespaces: Netns[] = [];
let nsW: Netns, nsU: Netns;
let agentW: Agent, agentU: Agent;
let weftZtunnel: ChildProcess | undefined;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** WEFT_INTEROP_VERBOSE=1: each step on stderr as it starts (the processes' logs are in `dir`). */
const step = (what: string) => process.env.WEFT_INTEROP_VERBOSE && console.error(`${new Date().toISOString()} interop: ${what}`);

/** Waits as test/support/until.ts does, announcing the step and naming the logs folder on failure. */
async function until<T>(what: string, f: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  step(`waiting for ${what}`);
  try {
    return await untilSupport(what, f, timeoutMs, 200);
  } catch (e) {
    throw new Error(`${(e as Error).message} (logs in ${dir})`, { cause: e });
  }
}

function pod(name: string, node: string, ip: string, sa: string): string {
  return `apiVersion: v1
kind: Pod
metadata: { name: ${name}, namespace: default, labels: { app: ${sa} } }
spec:
  nodeName: ${node}
  serviceAccountName: ${sa}
  containers: [{ name: app, image: local }]
status: { phase: Running, podIP: ${ip}, podIPs: [{ ip: ${ip} }], conditions: [{ type: Ready, status: "True" }] }
`;
}

/**
 * weft's processes log at info (under node --test its logger would default to warn); with
 * WEFT_INTEROP_PCAP=1 they append their TLS secrets to `<dir>/keylog.txt`.
 */
function weftEnv(): NodeJS.ProcessEnv {
  const keylog = process.env.WEFT_INTEROP_PCAP ? { NODE_OPTIONS: `--tls-keylog=${path.join(dir, "keylog.txt")}` } : {};
  return { ...process.env, WEFT_LOG: "info", ...keylog };
}

/** Starts a process inside a namespace, its output in `<dir>/<log>.log`. */
function startIn(ns: Netns, log: string, cmd: string, args: readonly string[], env: NodeJS.ProcessEnv = process.env): ChildProcess {
  step(`starting ${log}`);
  const out = createWriteStream(path.join(dir, `${log}.log`), { flags: "a" });
  const child = spawn("nsenter", [`--net=${ns.path}`, "--", cmd, ...args], { stdio: ["ignore", "pipe", "pipe"], env });
  child.stdout!.pipe(out);
  child.stderr!.pipe(out);
  children.push(child);
  return child;
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, "exit");
  child.kill("SIGTERM");
  const t = setTimeout(() => child.kill("SIGKILL"), 5000);
  await exited;
  clearTimeout(t);
}

async function get(agent: Agent, url: string): Promise<string> {
  const r = await agent.request<{ status: number; body: string }>("get", { url });
  if (r.status !== 200) throw new Error(`GET ${url}: ${r.status} ${r.body.slice(0, 200)}`);
  return r.body;
}

/** Whether the counter `name` with `labels` is higher in `now` than in `before`. */
const grew = (before: string, now: string, name: string, labels: readonly string[]) =>
  counter(now, name, labels) > counter(before, name, labels);

/** Sum of the Prometheus samples of `name` whose labels contain every one of `labels`. */
function counter(text: string, name: string, labels: readonly string[]): number {
  let n = 0;
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${name}{`) || !labels.every((l) => line.includes(l))) continue;
    n += Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return n;
}

const weftMetrics = () => get(agentW, `http://${WEFT}:15020/stats/prometheus`);
const upstreamMetrics = () => get(agentU, "http://127.0.0.1:15020/metrics");

type SocksOutcome = { echoed?: string; refused?: number; closed?: string };
/** From upstream's pod (its SOCKS5 listener) to weft's echo pod. */
const fromUpstream = (port: number, payload: string) =>
  agentU.request<SocksOutcome>("socks", { proxy: { host: "127.0.0.1", port: 15080 }, target: { host: ECHO, port }, payload });
/** From weft's sleep pod (weft ztunnel's SOCKS5 listener) to upstream's pod. */
const fromWeft = (port: number, payload: string) =>
  agentW.request<SocksOutcome>("socks", {
    proxy: { host: WEFT, port: 15080 },
    localAddress: SLEEP,
    target: { host: UP, port },
    payload,
  });

before(async () => {
  if (SKIP_REASON) return;
  assert.ok(existsSync(UPSTREAM), `WEFT_UPSTREAM_ZTUNNEL=${UPSTREAM} does not exist`);
  await removeNetnsWithPrefix(NS_PREFIX);
  const id = runId();
  nsW = await Netns.create(`${NS_PREFIX}${id}-w`);
  namespaces.push(nsW);
  nsU = await Netns.create(`${NS_PREFIX}${id}-u`);
  namespaces.push(nsU);
  await vethPair({ ns: nsW, ifname: `zi${id}w` }, { ns: nsU, ifname: `zi${id}u` });
  await nsW.exec("ip", ["addr", "add", `${WEFT}/24`, "dev", `zi${id}w`]);
  for (const ip of [SLEEP, ECHO]) await nsW.exec("ip", ["addr", "add", `${ip}/32`, "dev", `zi${id}w`]);
  await nsU.exec("ip", ["addr", "add", `${UP}/24`, "dev", `zi${id}u`]);

  mkdirSync(configDir, { recursive: true });
  const write = (name: string, text: string) => writeFileSync(path.join(configDir, name), text);
  write("namespace.yaml", "apiVersion: v1\nkind: Namespace\nmetadata: { name: default, labels: { istio.io/dataplane-mode: ambient } }\n");
  write("sleep.yaml", pod("sleep", "node-a", SLEEP, "sleep"));
  write("echo.yaml", pod("echo", "node-a", ECHO, "echo"));
  write("up.yaml", pod("up-0", "node-up", UP, "up"));
  write(
    "deny.yaml",
    `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: deny-8081, namespace: default }
spec:
  action: DENY
  rules:
  - from: [{ source: { principals: ["${TD}/ns/default/sa/sleep", "${TD}/ns/default/sa/up"] } }]
    to: [{ operation: { ports: ["8081"] } }]
`,
  );
  const tokens = [
    { token: "interop-node-a-0123456789", node: "node-a", identity: SA("istio-system", "ztunnel") },
    // Dedicated mode asks the CA without ImpersonatedIdentity: a workload token for its own identity.
    { token: "interop-up-0-0123456789ab", identity: SA("default", "up"), namespace: "default", serviceAccount: "up" },
  ];
  writeFileSync(path.join(dir, "tokens.yaml"), JSON.stringify(tokens));
  writeFileSync(path.join(dir, "node-a.token"), tokens[0]!.token);
  writeFileSync(path.join(dir, "up.token"), tokens[1]!.token);

  agentW = new Agent(nsW.spawn(process.execPath, [AGENT_JS]));
  agentU = new Agent(nsU.spawn(process.execPath, [AGENT_JS]));
  agents.push(agentW, agentU);
  await Promise.all([agentW.ready, agentU.ready]);
  for (const port of [8080, 8081]) {
    await agentW.request("echo", { host: ECHO, port });
    await agentU.request("echo", { host: UP, port });
  }

  if (process.env.WEFT_INTEROP_PCAP) {
    // HBONE on the veth, decryptable with weft's key log (both engines write it, docs/hbone.md).
    startIn(nsW, "tcpdump", "tcpdump", ["-i", `zi${id}w`, "-U", "--immediate-mode", "-w", path.join(dir, "hbone.pcap"), "tcp port 15008"]);
    await sleep(500);
  }

  startIn(
    nsW,
    "controlplane",
    process.execPath,
    [
      MAIN_JS,
      "controlplane",
      "--config-dir",
      configDir,
      "--ca-dir",
      caDir,
      "--tokens",
      path.join(dir, "tokens.yaml"),
      "--listen",
      `${WEFT}:15012`,
      "--monitor",
      `${WEFT}:15014`,
    ],
    weftEnv(),
  );
  await until("control plane ready", () => get(agentW, `http://${WEFT}:15014/ready`));

  const rootCert = path.join(caDir, "root-cert.pem");
  startIn(nsU, "upstream-ztunnel", UPSTREAM, [], {
    PATH: process.env.PATH,
    RUST_LOG: "info",
    PROXY_MODE: "dedicated",
    PROXY_WORKLOAD_INFO: "default/up-0/up",
    XDS_ADDRESS: `https://${WEFT}:15012`,
    CA_ADDRESS: `https://${WEFT}:15012`,
    // The serving certificate's DNS SAN (docs/xds.md); dialled by IP, verified by this name.
    ALT_XDS_HOSTNAME: "istiod.istio-system.svc",
    ALT_CA_HOSTNAME: "istiod.istio-system.svc",
    XDS_ROOT_CA: rootCert,
    CA_ROOT_CA: rootCert,
    AUTH_TOKEN: path.join(dir, "up.token"),
    CLUSTER_ID: "Kubernetes",
    POD_NAME: "up-0",
    POD_NAMESPACE: "default",
    INSTANCE_IP: UP,
    NODE_NAME: "node-up",
    UNSTABLE_ENABLE_SOCKS5: "true",
    // Without the in-pod redirection rules a transparent upstream socket's replies would not
    // come back; its source address is not what this test checks (the identities are).
    ENABLE_ORIG_SRC: "false",
  });
  await until("upstream ztunnel ready", () => get(agentU, "http://127.0.0.1:15021/healthz/ready"), 60_000);
  step("set-up done");
});

after(async () => {
  if (process.env.WEFT_INTEROP_PCAP) await sleep(500); // tcpdump writes the last packets
  for (const c of children.reverse()) await stop(c);
  for (const a of agents) a.stop();
  for (const ns of namespaces) await ns.destroy();
  if (!process.env.WEFT_INTEROP_KEEP) rmSync(dir, { recursive: true, force: true });
});

interface AdsType {
  nacks: number;
  known: number;
  lastAck?: unknown;
}
interface AdsClient {
  id: string;
  identity: string;
  types: Record<string, AdsType>;
}

interface UpstreamDump {
  workloads?: Array<{ name: string; namespace: string; workloadIps: string[] }>;
  policies?: Array<{ name: string; namespace: string; action: string }>;
  certificates?: Array<{ identity: string; state: string; rootCerts?: Array<{ pem: string }> }>;
}

for (const engine of ENGINES) {
  test(
    `upstream ztunnel and weft's ztunnel (${engine} engine): xDS, CA, HBONE both ways with SAN checks, DENY alike`,
    { timeout: 180_000 },
    async (t) => {
      if (SKIP_REASON) {
        console.warn(`!! SKIPPED interop with upstream ztunnel (${engine} engine): ${SKIP_REASON}`);
        t.skip(SKIP_REASON);
        return;
      }
      weftZtunnel = startIn(
        nsW,
        `weft-ztunnel-${engine}`,
        process.execPath,
        [
          MAIN_JS,
          "ztunnel",
          "--node",
          "node-a",
          "--bind-address",
          WEFT,
          "--xds-address",
          `${WEFT}:15012`,
          "--token-file",
          path.join(dir, "node-a.token"),
          "--root-cert",
          path.join(caDir, "root-cert.pem"),
          "--hbone-engine",
          engine,
          "--drain-seconds",
          "0",
        ],
        weftEnv(),
      );
      try {
        await until("weft ztunnel ready", () => get(agentW, `http://${WEFT}:15021/healthz/ready`));
        const weftDump = JSON.parse(await get(agentW, `http://${WEFT}:15000/config_dump`)) as { config?: { hboneEngine?: string } };
        assert.equal(weftDump.config?.hboneEngine, engine, "weft's ztunnel runs the engine under test");

        // 1. xDS and CA, seen from both ends.
        step(`1 xds and ca (${engine})`);
        const adsz = JSON.parse(await get(agentW, `http://${WEFT}:15014/debug/adsz`)) as { clients: AdsClient[] };
        const up = adsz.clients.find((c) => c.id.startsWith(`${UP_NODE_ID}/`));
        assert.ok(up, `no ADS stream from upstream ztunnel: ${adsz.clients.map((c) => c.id).join(", ")}`);
        assert.equal(up.identity, SA("default", "up"));
        for (const type of ["type.googleapis.com/istio.workload.Address", "type.googleapis.com/istio.security.Authorization"]) {
          const s: AdsType | undefined = up.types[type];
          assert.ok(s, `upstream ztunnel did not subscribe ${type}`);
          assert.ok(s.lastAck, `upstream ztunnel did not ACK ${type}: ${JSON.stringify(s)}`);
          assert.equal(s.nacks, 0, `upstream ztunnel NACKed ${type}: ${JSON.stringify(s)}`);
          assert.ok(s.known > 0, `upstream ztunnel holds no ${type}`);
        }
        const dump = JSON.parse(await get(agentU, "http://127.0.0.1:15000/config_dump")) as UpstreamDump;
        const ips = (dump.workloads ?? []).flatMap((w) => w.workloadIps);
        for (const ip of [SLEEP, ECHO, UP]) assert.ok(ips.includes(ip), `upstream ztunnel lacks the workload ${ip}: ${ips.join(", ")}`);
        assert.ok(
          (dump.policies ?? []).some((p) => p.name === "deny-8081" && p.namespace === "default" && p.action === "Deny"),
          `upstream ztunnel lacks the DENY policy: ${JSON.stringify(dump.policies)}`,
        );
        // 2. upstream -> weft over HBONE.
        step(`2 upstream -> weft (${engine})`);
        const upBefore = await upstreamMetrics();
        const payloadIn = `from upstream to weft (${engine})`;
        // Retried (with every failed attempt reported) while upstream's state may still lack
        // weft's freshly started ztunnel; the answer must then be the payload itself.
        const failedAttempts: SocksOutcome[] = [];
        const inbound = await until("upstream -> weft echo", async () => {
          const r = await fromUpstream(8080, payloadIn);
          if (r.echoed !== payloadIn) failedAttempts.push(r);
          return r.echoed === payloadIn || failedAttempts.length > 20 ? r : undefined;
        });
        if (failedAttempts.length) t.diagnostic(`upstream -> weft: attempts before the first echo: ${JSON.stringify(failedAttempts)}`);
        assert.equal(inbound.echoed, payloadIn, "bytes echoed through upstream ztunnel -> weft ztunnel");
        // Dedicated mode fetches its certificate on first use: it exists now, issued by weft's CA.
        const withCert = await until("upstream ztunnel's certificate", async () => {
          const d = JSON.parse(await get(agentU, "http://127.0.0.1:15000/config_dump")) as UpstreamDump;
          return d.certificates?.some((c) => c.identity === SA("default", "up") && c.state === "Available") ? d : undefined;
        });
        const roots = withCert.certificates!.find((c) => c.identity === SA("default", "up"))!.rootCerts ?? [];
        // The dump's pem is base64 of upstream's PEM text (64-column lines): compare certificates, not text.
        const root = new X509Certificate(readFileSync(path.join(caDir, "root-cert.pem"))).fingerprint256;
        assert.ok(
          roots.some((c) => new X509Certificate(Buffer.from(c.pem, "base64")).fingerprint256 === root),
          `upstream ztunnel's certificate does not end at weft's mesh root: ${JSON.stringify(roots)}`,
        );

        let wm = await weftMetrics();
        assert.ok(
          counter(wm, "istio_tcp_connections_opened_total", [
            'reporter="destination"',
            `source_principal="${SA("default", "up")}"`,
            `destination_principal="${SA("default", "echo")}"`,
            'connection_security_policy="mutual_tls"',
          ]) >= 1,
          `weft's server did not record upstream's SAN:\n${wm}`,
        );
        let um = await upstreamMetrics();
        const upSource = [
          'reporter="source"',
          `destination_principal="${SA("default", "echo")}"`,
          `source_principal="${SA("default", "up")}"`,
        ];
        assert.ok(
          grew(upBefore, um, "istio_tcp_connections_opened_total", upSource),
          `upstream's client did not record weft's SAN:\n${um}`,
        );

        // 3. weft -> upstream over HBONE.
        step(`3 weft -> upstream (${engine})`);
        const payloadOut = `from weft to upstream (${engine})`;
        const outbound = await fromWeft(8080, payloadOut);
        assert.equal(outbound.echoed, payloadOut, `bytes echoed through weft ztunnel -> upstream ztunnel: ${JSON.stringify(outbound)}`);
        um = await upstreamMetrics();
        const upDest = [
          'reporter="destination"',
          `source_principal="${SA("default", "sleep")}"`,
          `destination_principal="${SA("default", "up")}"`,
        ];
        assert.ok(
          grew(upBefore, um, "istio_tcp_connections_opened_total", upDest),
          `upstream's server did not record weft's client SAN:\n${um}`,
        );
        wm = await weftMetrics();
        assert.ok(
          counter(wm, "istio_tcp_connections_opened_total", [
            'reporter="source"',
            `source_principal="${SA("default", "sleep")}"`,
            `destination_principal="${SA("default", "up")}"`,
          ]) >= 1,
          `weft's client did not record upstream's SAN:\n${wm}`,
        );
        const peers = await agentW.request<Array<{ listener: string; remote: string }>>("peers");
        const peersU = await agentU.request<Array<{ listener: string; remote: string }>>("peers");
        t.diagnostic(`weft echo saw ${JSON.stringify(peers)}; upstream echo saw ${JSON.stringify(peersU)}`);

        // 4. DENY of port 8081, decided by the destination's ztunnel on each side.
        step(`4 deny (${engine})`);
        const deniedIn = await fromUpstream(8081, "must not arrive");
        const deniedOut = await fromWeft(8081, "must not arrive");
        t.diagnostic(`denied upstream -> weft: ${JSON.stringify(deniedIn)}; denied weft -> upstream: ${JSON.stringify(deniedOut)}`);
        assert.equal(deniedIn.echoed ?? "", "", "weft's ztunnel let a denied connection through");
        assert.equal(deniedOut.echoed ?? "", "", "upstream ztunnel let a denied connection through");
        const reached = [
          ...(await agentW.request<Array<{ listener: string }>>("peers")),
          ...(await agentU.request<Array<{ listener: string }>>("peers")),
        ];
        assert.deepEqual(
          reached.filter((p) => p.listener.endsWith(":8081")),
          [],
          "a denied connection reached an echo server",
        );
        wm = await weftMetrics();
        assert.ok(
          counter(wm, "istio_tcp_connections_failed_total", [
            'reporter="destination"',
            'response_flags="DENY"',
            `source_principal="${SA("default", "up")}"`,
          ]) >= 1 &&
            counter(wm, "istio_tcp_connections_opened_total", [
              'reporter="destination"',
              'response_flags="DENY"',
              `source_principal="${SA("default", "up")}"`,
            ]) === 0,
          `weft did not count the denial of upstream's connection:\n${wm}`,
        );
        um = await upstreamMetrics();
        const upDeny = ['reporter="destination"', 'response_flags="DENY"', `source_principal="${SA("default", "sleep")}"`];
        t.diagnostic(
          `upstream's metrics after the denial: ${um
            .split("\n")
            .filter((l) => l.includes('response_flags="DENY"'))
            .join(" | ")}`,
        );
        assert.ok(
          // Both count a denied connection opened with response_flags "-", closed and failed with DENY.
          grew(upBefore, um, "istio_tcp_connections_failed_total", upDeny),
          `upstream did not count the denial of weft's connection:\n${um}`,
        );
        // The same client's allowed port still works: the refusal is the policy, not a broken path.
        assert.equal((await fromWeft(8080, "still allowed")).echoed, "still allowed");
        assert.equal((await fromUpstream(8080, "still allowed")).echoed, "still allowed");
      } finally {
        await stop(weftZtunnel);
      }
    },
  );
}
