/**
 * A real kube-apiserver backed by a real etcd, for integration tests: both bound to 127.0.40.1
 * on ephemeral ports, with a throwaway PKI, a static admin token (system:masters under RBAC),
 * and a service-account signing key so TokenRequest/TokenReview work with real tokens.
 *
 * Lifecycle: `startKubeCluster()` starts etcd, then one apiserver, and waits for /readyz.
 * `stop()` kills everything it started and removes the temp dir. Every run records its pids in
 * $WEFT_CACHE/kube/run/<pid>.json; the next start kills the processes of runs whose test
 * process is gone (a crashed run) and removes their temp dirs.
 *
 * Apiservers can be stopped and started again on the same port (watch-resume tests), and a
 * second one can run on the same etcd to make changes while the first is down.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync, openSync, closeSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import type { TestContext } from "node:test";
import type { KubeClientConfig, KubeConfigParts } from "../../src/kube/client/kube-config.js";
import { kubeConfigFromParts } from "../../src/kube/client/kube-config.js";
import { kubeApi, type KubeApi } from "../../src/kube/client/kube-api.js";
import type { KubeBinaries } from "./binaries.js";
import { makeTestPki } from "./pki.js";

export const KUBE_TEST_IP = "127.0.40.1";
const cacheDir = path.join(process.env.WEFT_CACHE ?? path.join(process.env.HOME ?? tmpdir(), ".cache/weft"), "kube");
const runDir = path.join(cacheDir, "run");

export interface ApiserverOptions {
  /** Serve watches from etcd directly (no watch cache): watches resume exactly from any uncompacted RV. */
  readonly watchCache?: boolean;
  /** Reuse this port (restart on the same address). */
  readonly port?: number;
}

export interface Apiserver {
  readonly port: number;
  readonly url: string;
  /** Graceful stop (SIGTERM), or `{ crash: true }` for SIGKILL: connections reset mid-stream. */
  stop(opts?: { crash?: boolean }): Promise<void>;
}

export interface KubeCluster {
  readonly dir: string;
  readonly etcdUrl: string;
  /** The first apiserver (the one `config`/`admin` point at); replaced by `restartApiserver`. */
  readonly apiserver: Apiserver;
  /** Admin (system:masters) connection to the first apiserver's address. */
  readonly config: KubeClientConfig;
  /** The admin's connection parts (server, CA, token), to derive other configs from. */
  readonly parts: KubeConfigParts;
  /** `config` with some parts replaced (another server, another user's token). */
  configWith(parts: Partial<KubeConfigParts>): KubeClientConfig;
  readonly admin: KubeApi;
  /** kubeconfig file for the admin, for tools. */
  readonly kubeconfigPath: string;
  /** Starts another apiserver on the same etcd (new port unless given). */
  startApiserver(opts?: ApiserverOptions): Promise<Apiserver>;
  /** Stops the first apiserver (killed if `crash`) and starts it again on the same port once `during` has run. */
  restartApiserver(during?: () => Promise<void>, opts?: ApiserverOptions & { crash?: boolean }): Promise<void>;
  /** Compacts etcd's history up to its current revision (old watch RVs answer 410 Gone). */
  compactEtcd(): Promise<number>;
  stop(): Promise<void>;
}

interface RunRecord {
  owner: number;
  dir: string;
  pids: number[];
  binaries: string[];
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Kills processes of earlier runs whose owning test process is gone; removes their dirs. */
export function reapStaleRuns(): void {
  mkdirSync(runDir, { recursive: true });
  for (const f of readdirSync(runDir)) {
    const file = path.join(runDir, f);
    let rec: RunRecord;
    try {
      rec = JSON.parse(readFileSync(file, "utf8")) as RunRecord;
    } catch {
      rmSync(file, { force: true });
      continue;
    }
    if (alive(rec.owner)) continue;
    for (const pid of rec.pids) {
      let cmd = "";
      try {
        cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8");
      } catch {
        continue; // already gone
      }
      // Only what we started: a reused pid runs something else.
      if (rec.binaries.some((b) => cmd.startsWith(b))) {
        console.warn(`kube harness: killing leftover pid ${pid} of crashed run ${rec.owner}`);
        try {
          process.kill(pid, "SIGKILL");
        } catch {
          // raced with its exit
        }
      }
    }
    rmSync(rec.dir, { recursive: true, force: true });
    rmSync(file, { force: true });
  }
}

/** A port on KUBE_TEST_IP that nothing listens on (just released). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, KUBE_TEST_IP, () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

function launch(bin: string, args: string[], logFile: string): ChildProcess {
  const fd = openSync(logFile, "a");
  const child = spawn(bin, args, { stdio: ["ignore", fd, fd] });
  closeSync(fd);
  return child;
}

/** SIGTERM and up to `graceMs` for a clean exit, then SIGKILL; graceMs 0 kills at once (a crash). */
async function stopChild(child: ChildProcess, graceMs = 5000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill(graceMs === 0 ? "SIGKILL" : "SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
  await exited;
  clearTimeout(timer);
}

async function waitFor(
  what: string,
  child: ChildProcess,
  logFile: string,
  timeoutMs: number,
  probe: () => Promise<boolean>,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) {
      throw new Error(`${what} exited with ${child.exitCode}; last log lines:\n${tail(logFile)}`);
    }
    if (await probe().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${what} not ready within ${timeoutMs} ms; last log lines:\n${tail(logFile)}`);
}

function tail(file: string): string {
  try {
    return readFileSync(file, "utf8").split("\n").slice(-25).join("\n");
  } catch {
    return "(no log)";
  }
}

/** Another static bearer token the API server accepts (token-auth-file line), e.g. what a kubeconfig's exec plugin prints. */
export interface StaticToken {
  readonly token: string;
  readonly user: string;
  readonly groups?: readonly string[];
}

export async function startKubeCluster(bins: KubeBinaries, opts: { tokens?: readonly StaticToken[] } = {}): Promise<KubeCluster> {
  reapStaleRuns();
  const dir = mkdtempSync(path.join(tmpdir(), "weft-kube-"));
  const record: RunRecord = { owner: process.pid, dir, pids: [], binaries: [bins.apiserver, bins.etcd] };
  const recordFile = path.join(runDir, `${process.pid}-${path.basename(dir)}.json`);
  const saveRecord = (): void => writeFileSync(recordFile, JSON.stringify(record));
  saveRecord();
  const children = new Set<ChildProcess>();
  const track = (c: ChildProcess): ChildProcess => {
    children.add(c);
    if (c.pid) record.pids.push(c.pid);
    saveRecord();
    c.once("exit", () => children.delete(c));
    return c;
  };
  // A test process that exits without stop() (failed before hook, runner timeout) still takes
  // its servers down; only a SIGKILLed one leaves them for reapStaleRuns().
  const killAllOnExit = (): void => {
    for (const c of children) c.kill("SIGKILL");
  };
  process.once("exit", killAllOnExit);
  const cleanup = async (): Promise<void> => {
    process.removeListener("exit", killAllOnExit);
    // Everything is thrown away: no need for graceful exits.
    await Promise.all([...children].map((c) => stopChild(c, 0)));
    rmSync(dir, { recursive: true, force: true });
    rmSync(recordFile, { force: true });
  };

  try {
    const pki = await makeTestPki(KUBE_TEST_IP);
    const files = {
      ca: path.join(dir, "ca.pem"),
      cert: path.join(dir, "apiserver.pem"),
      key: path.join(dir, "apiserver-key.pem"),
      saKey: path.join(dir, "sa-key.pem"),
      saPub: path.join(dir, "sa-pub.pem"),
      tokens: path.join(dir, "tokens.csv"),
    };
    writeFileSync(files.ca, pki.caPem);
    writeFileSync(files.cert, pki.serverCertPem);
    writeFileSync(files.key, pki.serverKeyPem, { mode: 0o600 });
    writeFileSync(files.saKey, pki.saKeyPem, { mode: 0o600 });
    writeFileSync(files.saPub, pki.saPubPem);
    const adminToken = `weft-admin-${Math.random().toString(36).slice(2)}${Date.now()}`;
    const tokenLines = [
      `${adminToken},weft-admin,weft-admin-uid,"system:masters"`,
      ...(opts.tokens ?? []).map((t) => `${t.token},${t.user},${t.user}-uid,"${(t.groups ?? []).join(",")}"`),
    ];
    writeFileSync(files.tokens, `${tokenLines.join("\n")}\n`, { mode: 0o600 });

    // etcd
    const [clientPort, peerPort] = [await freePort(), await freePort()];
    const etcdUrl = `http://${KUBE_TEST_IP}:${clientPort}`;
    const peerUrl = `http://${KUBE_TEST_IP}:${peerPort}`;
    const etcdLog = path.join(dir, "etcd.log");
    const etcd = track(
      launch(
        bins.etcd,
        [
          "--name=weft-test",
          `--data-dir=${path.join(dir, "etcd")}`,
          `--listen-client-urls=${etcdUrl}`,
          `--advertise-client-urls=${etcdUrl}`,
          `--listen-peer-urls=${peerUrl}`,
          `--initial-advertise-peer-urls=${peerUrl}`,
          `--initial-cluster=weft-test=${peerUrl}`,
          "--log-level=warn",
          // Like production etcds: lets the apiserver's watch caches advance (and send bookmarks) when
          // their kind is idle.
          "--watch-progress-notify-interval=2s",
          "--unsafe-no-fsync", // test data only: skip fsync for speed
        ],
        etcdLog,
      ),
    );
    await waitFor("etcd", etcd, etcdLog, 30_000, async () => (await fetch(`${etcdUrl}/health`)).ok);

    let apiserverCount = 0;
    const startApiserver = async (opts: ApiserverOptions = {}): Promise<Apiserver> => {
      const port = opts.port ?? (await freePort());
      const n = apiserverCount++;
      const log = path.join(dir, `apiserver-${n}.log`);
      const certDir = path.join(dir, `apiserver-${n}-certs`);
      const child = track(
        launch(
          bins.apiserver,
          [
            `--etcd-servers=${etcdUrl}`,
            `--bind-address=${KUBE_TEST_IP}`,
            `--advertise-address=${KUBE_TEST_IP}`,
            `--secure-port=${port}`,
            `--cert-dir=${certDir}`,
            `--tls-cert-file=${files.cert}`,
            `--tls-private-key-file=${files.key}`,
            `--client-ca-file=${files.ca}`,
            `--token-auth-file=${files.tokens}`,
            "--authorization-mode=RBAC",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            `--service-account-key-file=${files.saPub}`,
            `--service-account-signing-key-file=${files.saKey}`,
            // ClusterIPs are only allocated as data here; nothing routes to them.
            "--service-cluster-ip-range=198.19.240.0/20",
            // No controller-manager runs, so no `default` service accounts get created.
            "--disable-admission-plugins=ServiceAccount",
            "--etcd-compaction-interval=0", // tests compact explicitly
            `--watch-cache=${opts.watchCache === false ? "false" : "true"}`,
            "--endpoint-reconciler-type=none",
            "--enable-priority-and-fairness=false",
            "--profiling=false",
            "--v=1",
          ],
          log,
        ),
      );
      const url = `https://${KUBE_TEST_IP}:${port}`;
      const probe = kubeApi(kubeConfigFromParts({ server: url, ca: pki.caPem, token: adminToken }));
      await waitFor(`kube-apiserver (${url})`, child, log, 90_000, async () => {
        const r = await probe.request<unknown>("GET", "/readyz", undefined, { timeoutMs: 2000 });
        return r.ok || (r.error.code === "decode" && r.error.httpStatus === 200);
      });
      return { port, url, stop: (o = {}) => stopChild(child, o.crash ? 0 : 5000) };
    };

    let first = await startApiserver();
    const parts: KubeConfigParts = { server: first.url, ca: pki.caPem, token: adminToken };
    const config = kubeConfigFromParts(parts);
    const admin = kubeApi(config);
    const kubeconfigPath = path.join(dir, "kubeconfig");
    writeFileSync(
      kubeconfigPath,
      [
        "apiVersion: v1",
        "kind: Config",
        "current-context: weft-test",
        "contexts: [{name: weft-test, context: {cluster: weft-test, user: admin}}]",
        `clusters: [{name: weft-test, cluster: {server: "${first.url}", certificate-authority: ca.pem}}]`,
        `users: [{name: admin, user: {token: "${adminToken}"}}]`,
        "",
      ].join("\n"),
      { mode: 0o600 },
    );

    return {
      dir,
      etcdUrl,
      get apiserver() {
        return first;
      },
      config,
      parts,
      configWith: (p) => kubeConfigFromParts({ ...parts, ...p }),
      admin,
      kubeconfigPath,
      startApiserver,
      async restartApiserver(during, opts = {}) {
        await first.stop({ crash: opts.crash === true });
        if (during) await during();
        first = await startApiserver({ ...(opts.watchCache !== undefined ? { watchCache: opts.watchCache } : {}), port: first.port });
      },
      async compactEtcd() {
        // etcd's JSON gateway: read the current revision, then compact (physically) up to it.
        const range = await fetch(`${etcdUrl}/v3/kv/range`, {
          method: "POST",
          body: JSON.stringify({ key: Buffer.from("/").toString("base64"), count_only: true }),
        });
        const rev = Number(((await range.json()) as { header: { revision: string } }).header.revision);
        const c = await fetch(`${etcdUrl}/v3/kv/compaction`, {
          method: "POST",
          body: JSON.stringify({ revision: String(rev), physical: true }),
        });
        if (!c.ok) throw new Error(`etcd compaction failed: ${c.status} ${await c.text()}`);
        return rev;
      },
      async stop() {
        await cleanup();
      },
    };
  } catch (e) {
    await cleanup();
    throw e;
  }
}

/**
 * A test's cluster, or a loud skip of that test when the file could not start one (binaries not
 * built, not root...): `const need = (t) => needCluster(t, cluster, skipReason)`.
 */
export function needCluster(t: TestContext, cluster: KubeCluster | undefined, skipReason: string): KubeCluster | undefined {
  if (!cluster) {
    console.warn(`!! SKIPPED kube integration test "${t.name}": ${skipReason}`);
    t.skip(skipReason);
  }
  return cluster;
}
