/**
 * Past the open-file limit (issue 14): both sides refuse new connections at once, say so in the
 * log, and serve again once descriptors are free. Two real `weft ztunnel` processes on loopback
 * (127.0.67.0/24), one of them started under `prlimit --nofile=96` (util-linux); an echo
 * server in this process holds every connection open so the limited side's descriptors fill up.
 * - outbound (node-a limited): each tunnel costs node-a the client socket; at the limit the event
 *   loop closes new clients on accept, before any byte is read;
 * - inbound (node-b limited): each tunnel costs node-b the upstream socket; at the limit the dial
 *   fails with EMFILE and the client gets the tunnel's 503 as a SOCKS5 failure reply;
 * - outbound with the native accept (node-a limited, on the native engine, clients on its
 *   outbound listener): the addon's accept loop refuses new clients with a reset once accept4
 *   fails with EMFILE (docs/hbone.md "Client side", the accept), and counts them.
 * In every case the limited process must not spin while at its limit. Needs no root.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { once } from "node:events";
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { get } from "node:http";
import { readFileSync } from "node:fs";
import * as path from "node:path";

const MAIN_JS = path.resolve(__dirname, "../../src/cli/main.js");
const LIMIT = 96;
const POD = "127.0.67.21";
const VIP = "127.0.67.100";
const dir = mkdtempSync(path.join(tmpdir(), "weft-fd-limit-"));
const held = new Set<net.Socket>();
let echo: net.Server;

before(async () => {
  execFileSync(process.execPath, [MAIN_JS, "ca", "init", "--dir", path.join(dir, "ca")], { stdio: "ignore" });
  const contents = {
    trustDomain: "cluster.local",
    workloads: [
      {
        uid: "sleep",
        name: "sleep",
        namespace: "default",
        serviceAccount: "sleep",
        node: "node-a",
        addresses: ["127.0.67.11"],
        tunnelProtocol: "HBONE",
      },
      {
        uid: "echo",
        name: "echo",
        namespace: "default",
        serviceAccount: "echo",
        node: "node-b",
        addresses: [POD],
        tunnelProtocol: "HBONE",
        services: { "default/echo.default.svc.cluster.local": [{ servicePort: 80, targetPort: 8080 }] },
      },
    ],
    services: [
      {
        name: "echo",
        namespace: "default",
        hostname: "echo.default.svc.cluster.local",
        addresses: [VIP],
        ports: [{ servicePort: 80, targetPort: 8080 }],
      },
    ],
  };
  writeFileSync(path.join(dir, "static.json"), JSON.stringify(contents));
  // node-a with an outbound listener on the service's VIP (node-b must not bind it too).
  writeFileSync(path.join(dir, "listener.json"), JSON.stringify({ ...contents, outboundListeners: [`${VIP}:80`] }));
  echo = net.createServer((s) => {
    held.add(s);
    s.once("close", () => held.delete(s));
    s.on("error", () => {});
    s.pipe(s);
  });
  echo.listen(8080, POD);
  await once(echo, "listening");
});

after(() => {
  echo?.close();
  for (const s of held) s.destroy();
  rmSync(dir, { recursive: true, force: true });
});

class ZtunnelProcess {
  log = "";
  private constructor(readonly proc: ChildProcess) {
    proc.stdout!.on("data", (d: Buffer) => (this.log += d.toString()));
    proc.stderr!.on("data", (d: Buffer) => (this.log += d.toString()));
  }

  static async start(node: string, ip: string, limited: boolean, nativeListener = false): Promise<ZtunnelProcess> {
    const config = path.join(dir, nativeListener ? "listener.json" : "static.json");
    const args = [MAIN_JS, "ztunnel", "--node", node, "--config", config, "--ca-dir", path.join(dir, "ca")];
    args.push("--bind-address", ip, "--drain-seconds", "0");
    // Without NODE_TEST_CONTEXT: a node process that inherits it from the test runner writes
    // nothing to its stdout (it takes itself for a test file).
    const env: NodeJS.ProcessEnv = { ...process.env, ...(nativeListener ? { WEFT_HBONE_ENGINE: "native" } : {}) };
    delete env.NODE_TEST_CONTEXT;
    const proc = limited
      ? spawn("prlimit", [`--nofile=${LIMIT}:${LIMIT}`, process.execPath, ...args], { env })
      : spawn(process.execPath, args, { env });
    const z = new ZtunnelProcess(proc);
    try {
      await z.logged("ztunnel started", 20_000);
    } catch (e) {
      proc.kill("SIGKILL");
      throw e;
    }
    return z;
  }

  async logged(text: string, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.log.includes(text)) {
      if (Date.now() > deadline || this.proc.exitCode !== null)
        throw new Error(`no "${text}" in the ztunnel's log:\n${this.log.slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async stop(): Promise<void> {
    if (this.proc.exitCode !== null) return;
    this.proc.kill("SIGTERM");
    await once(this.proc, "exit");
  }
}

type Outcome = { kind: "ok"; socket: net.Socket } | { kind: "refused"; how: string; ms: number } | { kind: "hang" };

/** CPU time (user + system, in clock ticks) a process has used so far. */
function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(f[11]) + Number(f[12]);
}

/** node-a's natively accepting outbound listeners' counters, from its config dump. */
function acceptStats(): Promise<{ accepted: number; refusedAtFdLimit: number } | undefined> {
  return new Promise((resolve, reject) => {
    get({ host: "127.0.67.1", port: 15000, path: "/config_dump" }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => (body += d));
      res.on("end", () =>
        resolve((JSON.parse(body) as { outboundAccept?: { accepted: number; refusedAtFdLimit: number } }).outboundAccept),
      );
    }).on("error", reject);
  });
}

/** One connection through node-a to the echo pod (SOCKS5, or straight to the outbound listener), carrying a byte both ways; or how it was refused. */
function tunnel(direct = false): Promise<Outcome> {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const s = direct
      ? net.connect({ host: VIP, port: 80, localAddress: "127.0.67.11" })
      : net.connect({ host: "127.0.67.1", port: 15080, localAddress: "127.0.67.11" });
    let buf = Buffer.alloc(0);
    let settled = false;
    const done = (o: Outcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (o.kind !== "ok") s.destroy();
      resolve(o);
    };
    const refused = (how: string) => done({ kind: "refused", how, ms: Date.now() - t0 });
    const timer = setTimeout(() => done({ kind: "hang" }), 5_000);
    s.on("error", (e: NodeJS.ErrnoException) => refused(e.code ?? e.message));
    s.on("close", () => refused("closed"));
    s.on("connect", () => s.write(direct ? "x" : Buffer.from([5, 1, 0, 5, 1, 0, 1, 127, 0, 67, 21, 0x1f, 0x90])));
    s.on("data", (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (direct) return done({ kind: "ok", socket: s });
      if (buf.length >= 12 && buf.length - d.length < 12) {
        if (buf[3] !== 0) return refused(`socks5 reply ${buf[3]}`);
        s.write("x");
      }
      if (buf.length >= 13) done({ kind: "ok", socket: s });
    });
  });
}

for (const side of ["outbound", "inbound", "outbound native accept"] as const) {
  test(`open-file limit on the ${side} side: new connections refused at once, logged, served again after`, async () => {
    const native = side === "outbound native accept";
    const za = await ZtunnelProcess.start("node-a", "127.0.67.1", side !== "inbound", native);
    const zb = await ZtunnelProcess.start("node-b", "127.0.67.2", side === "inbound").catch(async (e: unknown) => {
      await za.stop();
      throw e;
    });
    const limited = side === "inbound" ? zb : za;
    const open: net.Socket[] = [];
    try {
      const refusals: Outcome[] = [];
      for (let i = 0; i < 2 * LIMIT && refusals.length < 5; i++) {
        const o = await tunnel(native);
        assert.notEqual(o.kind, "hang", `connection ${i} was left hanging (${open.length} open)`);
        if (o.kind === "ok") open.push(o.socket);
        else refusals.push(o);
      }
      assert.equal(refusals.length, 5, `the limit of ${LIMIT} was never reached with ${open.length} tunnels open`);
      assert.ok(open.length > 20, `only ${open.length} tunnels before the limit`);
      for (const r of refusals) assert.ok(r.kind === "refused" && r.ms < 1_000, `refused at once: ${JSON.stringify(r)}`);
      await limited.logged("open-file limit reached", 3_000);
      // At the limit, with refused clients behind it: the process idles, it does not spin.
      const t0 = cpuTicks(limited.proc.pid!);
      for (let i = 0; i < 3; i++) assert.notEqual((await tunnel(native)).kind, "ok", "still at the limit");
      await new Promise((r) => setTimeout(r, 1_000));
      const used = cpuTicks(limited.proc.pid!) - t0;
      assert.ok(used < 50, `${used} clock ticks of CPU in ~1 s at the limit: the process spins`);
      // Freeing descriptors: the same ztunnel serves again.
      const served = open.length;
      for (const s of open.splice(0)) s.destroy();
      await limited.logged("below the open-file limit again", 5_000);
      if (native) {
        // Asked now: at the limit the admin port refuses connections too.
        const st = await acceptStats();
        assert.ok(st && st.refusedAtFdLimit >= 5 && st.accepted >= served, `the addon counted its refusals: ${JSON.stringify(st)}`);
      }
      const again = await tunnel(native);
      assert.equal(again.kind, "ok", `after the limit: ${JSON.stringify(again.kind === "refused" ? again : again.kind)}`);
      if (again.kind === "ok") again.socket.destroy();
    } finally {
      for (const s of open) s.destroy();
      await Promise.all([za.stop(), zb.stop()]);
    }
  });
}
