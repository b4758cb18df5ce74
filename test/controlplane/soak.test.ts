/**
 * Soak (bounded): new tunnels through two ztunnels, without pause, while the control plane is
 * killed with SIGKILL and restarted twice and every workload certificate rotates at least twice.
 * Loopback only (127.0.91.0/24), no root. The control plane is a real `weft controlplane`
 * process serving a folder (its CA directory persists across restarts, as a cacerts Secret
 * would); the ztunnels run in this process in xDS mode with the shortest certificate TTL the
 * flag accepts (60 s), so they renew about every 30 s.
 *
 * Schedule (70 s of load, then on until each identity has rotated twice, at most 120 s): kill
 * at 10 s, restart at 15 s; kill at 24 s (just before the first renewals, which then have to
 * retry until the control plane is back), restart at 31 s. Every connection's outcome is
 * counted; the test requires zero failures, at least two certificate rotations per identity,
 * and, after the second restart, a pod added to the folder becoming reachable (both ztunnels
 * resubscribed).
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { once } from "node:events";
import { type ChildProcess, spawn } from "node:child_process";
import { createWriteStream, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { loadZtunnelConfig } from "../../src/ztunnel/config.js";
import { startZtunnel, type RunningZtunnel } from "../../src/ztunnel/bootstrap.js";
import { exchange, socksConnect } from "../support/socks.js";
import { until } from "../support/until.js";

const NET = "127.0.91";
const CP = `${NET}.1:15012`;
const MONITOR = `${NET}.1:15014`;
const LOAD_MS = 70_000;
/**
 * The load goes on past LOAD_MS until each identity has rotated twice, at most this long: a renewal
 * that fell into the CA's downtime backs off (up to ~10 s under load), which can push the second
 * rotation past 70 s; the bound keeps the test finite whatever happens.
 */
const LOAD_CAP_MS = 120_000;
const IDENTITIES = ["node-a soak/sleep", "node-b soak/echo"];
const WORKERS = 3;
/** Upper bound on connections (the workers pause 20 ms between connections). */
const MAX_CONNECTIONS = 20_000;
const MAIN_JS = path.resolve(__dirname, "../../src/cli/main.js");

const dir = mkdtempSync(path.join(tmpdir(), "weft-soak-"));
const configDir = path.join(dir, "config");
const caDir = path.join(dir, "ca");
const cpLog = path.join(dir, "controlplane.log");
let cp: ChildProcess | undefined;
const zts: RunningZtunnel[] = [];
const echoes: net.Server[] = [];

function pod(name: string, node: string, ip: string, app: string): string {
  return `apiVersion: v1
kind: Pod
metadata: { name: ${name}, namespace: soak, labels: { app: ${app} } }
spec:
  nodeName: ${node}
  serviceAccountName: ${name}
  containers: [{ name: app, image: local, ports: [{ containerPort: 8080, name: http }] }]
status: { phase: Running, podIP: ${ip}, podIPs: [{ ip: ${ip} }], conditions: [{ type: Ready, status: "True" }] }
`;
}

const write = (name: string, text: string) => writeFileSync(path.join(configDir, name), text);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function startControlPlane(): Promise<void> {
  const out = createWriteStream(cpLog, { flags: "a" });
  const child = spawn(
    process.execPath,
    [
      MAIN_JS,
      "controlplane",
      "--config-dir",
      configDir,
      "--ca-dir",
      caDir,
      "--listen",
      CP,
      "--monitor",
      MONITOR,
      "--tokens",
      path.join(dir, "tokens.yaml"),
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  child.stdout.pipe(out);
  child.stderr.pipe(out);
  cp = child;
  await until("control plane ready", async () => ((await fetch(`http://${MONITOR}/ready`)).status === 200 ? true : undefined), 20_000);
}

async function killControlPlane(): Promise<void> {
  const child = cp!;
  const exited = once(child, "exit");
  child.kill("SIGKILL");
  await exited;
  cp = undefined;
}

async function echoOn(ip: string): Promise<void> {
  const s = net.createServer({ allowHalfOpen: true }, (c) => {
    c.on("error", () => {});
    c.pipe(c);
  });
  s.listen(8080, ip);
  await once(s, "listening");
  echoes.push(s);
}

function call(host: string, payload: string): Promise<string> {
  return socksConnect({ proxy: { host: `${NET}.2`, port: 15080 }, localAddress: `${NET}.11`, target: { host, port: 80 } }).then((s) =>
    exchange(s, payload),
  );
}

before(async () => {
  mkdirSync(configDir, { recursive: true });
  write("namespace.yaml", `apiVersion: v1\nkind: Namespace\nmetadata: { name: soak, labels: { istio.io/dataplane-mode: ambient } }\n`);
  write("sleep.yaml", pod("sleep", "node-a", `${NET}.11`, "sleep"));
  write("echo.yaml", pod("echo", "node-b", `${NET}.21`, "echo"));
  for (const svc of ["echo", "late"])
    write(
      `svc-${svc}.yaml`,
      `apiVersion: v1
kind: Service
metadata: { name: ${svc}, namespace: soak }
spec: { clusterIP: ${NET}.${svc === "echo" ? 100 : 101}, selector: { app: ${svc} }, ports: [{ name: http, port: 80, targetPort: 8080 }] }
`,
    );
  const tokens = ["node-a", "node-b"].map((node) => ({
    token: `token-soak-${node}-0123456789`,
    node,
    identity: "spiffe://cluster.local/ns/istio-system/sa/ztunnel",
  }));
  writeFileSync(path.join(dir, "tokens.yaml"), JSON.stringify(tokens));
  await startControlPlane();
  for (const [i, t] of tokens.entries()) {
    writeFileSync(path.join(dir, `${t.node}.token`), t.token);
    const zc = loadZtunnelConfig(
      [
        "--node",
        t.node,
        "--bind-address",
        `${NET}.${2 + i}`,
        "--xds-address",
        CP,
        "--token-file",
        path.join(dir, `${t.node}.token`),
        "--root-cert",
        path.join(caDir, "root-cert.pem"),
        "--cert-ttl",
        "60",
        "--drain-seconds",
        "0",
      ],
      {},
    );
    assert.ok(zc.ok, !zc.ok ? zc.error.message : "");
    const z = await startZtunnel(zc.value);
    assert.ok(z.ok, !z.ok ? z.error.message : "");
    zts.push(z.value);
  }
  await echoOn(`${NET}.21`);
  await echoOn(`${NET}.22`);
  await until("echo reachable", () => call("echo.soak.svc.cluster.local", "warm-up").catch(() => undefined), 20_000);
});

after(async () => {
  for (const e of echoes) e.close();
  await Promise.all(zts.map((z) => z.stop()));
  if (cp) await killControlPlane();
  rmSync(dir, { recursive: true, force: true });
});

test("soak: new tunnels keep working while the control plane is killed twice and certificates rotate", { timeout: 240_000 }, async () => {
  const rotations = new Map<string, number>();
  for (const z of zts)
    z.ztunnel.certs.onCertificate((c, previous) => {
      if (!previous) return; // a first certificate, not a rotation
      const id = `${z.ztunnel.config.node} ${c.identity.namespace}/${c.identity.serviceAccount}`;
      rotations.set(id, (rotations.get(id) ?? 0) + 1);
    });
  const outcomes = { ok: 0, failed: 0 };
  const failures = new Map<string, number>();
  const started = Date.now();
  const stopAt = started + LOAD_MS;
  let n = 0;
  const worker = async (w: number) => {
    const rotatedTwice = () => IDENTITIES.every((id) => (rotations.get(id) ?? 0) >= 2);
    while (Date.now() < started + LOAD_CAP_MS && n < MAX_CONNECTIONS && (Date.now() < stopAt || !rotatedTwice())) {
      const payload = `soak ${w} ${n++}`;
      try {
        const got = await Promise.race([
          call("echo.soak.svc.cluster.local", payload),
          sleep(5000).then(() => {
            throw new Error("no answer within 5 s");
          }),
        ]);
        if (got !== payload) throw new Error(`wrong answer ${JSON.stringify(got.slice(0, 40))}`);
        outcomes.ok++;
      } catch (e) {
        outcomes.failed++;
        const why = (e as Error).message;
        failures.set(why, (failures.get(why) ?? 0) + 1);
      }
      await sleep(20);
    }
  };
  const load = Promise.all(Array.from({ length: WORKERS }, (_, w) => worker(w)));
  const at = (ms: number) => sleep(Math.max(0, started + ms - Date.now()));
  const kills: string[] = [];
  for (const [killAt, restartAt] of [
    [10_000, 15_000],
    [24_000, 31_000],
  ] as const) {
    await at(killAt);
    await killControlPlane();
    kills.push(`killed at ${((Date.now() - started) / 1000).toFixed(1)} s`);
    await at(restartAt);
    await startControlPlane();
    kills.push(`restarted at ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }
  await load;
  const summary = `${outcomes.ok} ok, ${outcomes.failed} failed in ${((Date.now() - started) / 1000).toFixed(0)} s; ${kills.join(", ")}; rotations ${JSON.stringify(Object.fromEntries(rotations))}; failures ${JSON.stringify(Object.fromEntries(failures))}`;
  console.log(`soak: ${summary}`);
  assert.equal(outcomes.failed, 0, summary);
  assert.ok(outcomes.ok >= 500, `too few connections to mean anything: ${summary}`);
  for (const id of IDENTITIES)
    assert.ok((rotations.get(id) ?? 0) >= 2, `${id} rotated fewer than 2 times: ${summary}\n${readFileSync(cpLog, "utf8").slice(-2000)}`);
  // Both ztunnels resubscribed after the second restart: a pod added now becomes reachable.
  write("late.yaml", pod("late", "node-b", `${NET}.22`, "late"));
  assert.equal(
    await until(
      "a pod added after the restarts reachable",
      () => call("late.soak.svc.cluster.local", "late").catch(() => undefined),
      20_000,
    ),
    "late",
  );
});
