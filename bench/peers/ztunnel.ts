/**
 * weft's path: two ztunnel processes, one per "node", carrying the client's connection over
 * HBONE (HTTP/2 CONNECT over mutual TLS) without any capture:
 *
 *   client 127.0.50.21 (workload "client", node-a)
 *     -> ztunnel A outbound listener 127.0.50.100:80 (service VIP of echo.default)
 *     -> HBONE to 127.0.50.22:15008 (ztunnel B, bound on its local workload's address)
 *     -> plaintext to the server 127.0.50.22:5201 (workload "server", node-b)
 *
 * Both ztunnels read the same static config (only `node` and `bindAddress` differ) and share a
 * CA directory made with `weft ca init`, from which each signs its local workloads' certs. This
 * is the only file of the bench that knows how a ztunnel is started and configured.
 */
import { existsSync, writeFileSync } from "node:fs";
import { get } from "node:http";
import { join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { stringify } from "yaml";
import { WEFT_NODE_FLAGS } from "../../src/common/node-flags.js";
import { err, ok, type Result } from "../../src/common/result.js";
import { makeTempDir, removeTempDir, runSync, spawnChild, stopChild, type Child } from "../proc.js";
import type { Peer, RunningPeer } from "./peer.js";

/** The pair's addresses in 127.0.<net>.0/24 (each pair its own, so two pairs can run in one bench). */
function pairAddresses(net: number) {
  const p = `127.0.${net}`;
  return {
    CLIENT: `${p}.21`,
    SERVER: `${p}.22`,
    VIP: `${p}.100`,
    NODES: [
      { node: "node-a", bindAddress: `${p}.11` },
      { node: "node-b", bindAddress: `${p}.12` },
    ],
  } as const;
}
const READY_PORT = 15021;
const READY_TIMEOUT_MS = 20_000;

/** dist/bench/peers -> dist/src/cli/main.js */
const WEFT_MAIN = resolve(__dirname, "..", "..", "src", "cli", "main.js");

/** The static config of one node's ztunnel. Only the client's node (node-a) has the outbound
 * listener on the VIP: two processes cannot bind the same address, and node-b only serves HBONE. */
export function ztunnelConfig(node: string, bindAddress: string, caDir: string, net = 50): Record<string, unknown> {
  const { CLIENT, SERVER, VIP } = pairAddresses(net);
  return {
    node,
    trustDomain: "cluster.local",
    caDir,
    bindAddress,
    outboundListeners: node === "node-a" ? [`${VIP}:80`] : [],
    workloads: [
      {
        uid: "cluster1//Pod/default/client",
        name: "client",
        namespace: "default",
        serviceAccount: "client",
        node: "node-a",
        addresses: [CLIENT],
        tunnelProtocol: "HBONE",
      },
      {
        uid: "cluster1//Pod/default/server",
        name: "server",
        namespace: "default",
        serviceAccount: "server",
        node: "node-b",
        addresses: [SERVER],
        tunnelProtocol: "HBONE",
        services: { "default/echo.default.svc.cluster.local": [{ servicePort: 80, targetPort: 5201 }] },
      },
    ],
    services: [
      {
        name: "echo",
        namespace: "default",
        hostname: "echo.default.svc.cluster.local",
        addresses: [VIP],
        ports: [{ servicePort: 80, targetPort: 5201 }],
      },
    ],
  };
}

export const ztunnelPeer: Peer = ztunnelPairPeer("ztunnel", "node", 50);
/** The same pair on the native HBONE engine (`--hbone-engine native`: the inbound server and the outbound pool, docs/hbone.md). */
export const ztunnelNativePeer: Peer = ztunnelPairPeer("ztunnel-native", "native", 51);

/**
 * A ztunnel pair on `engine` in 127.0.<net>.0/24, started from the weft command at `weftMain`
 * (this tree's by default; bench/pingpong.ts passes another checkout's to compare builds).
 */
export function ztunnelPairPeer(name: string, engine: "node" | "native", net: number, weftMain = WEFT_MAIN): Peer {
  const { CLIENT, SERVER, VIP, NODES } = pairAddresses(net);
  return {
    name,
    async start(): Promise<Result<RunningPeer>> {
      if (!existsSync(weftMain)) return err(new Error(`ztunnel: ${weftMain} not found (the weft command is not built yet)`));
      const dir = makeTempDir("ztunnel");
      const children: Child[] = [];
      const stop = async (): Promise<void> => {
        await Promise.all(children.map((c) => stopChild(c, 5000)));
        children.length = 0;
        removeTempDir(dir);
      };
      const caDir = join(dir, "ca");
      const ca = runSync(process.execPath, [weftMain, "ca", "init", "--dir", caDir]);
      if (!ca.ok) {
        await stop();
        return err(new Error(`ztunnel: weft ca init: ${ca.error.message}`));
      }
      for (const n of NODES) {
        const file = join(dir, `${n.node}.yaml`);
        writeFileSync(file, stringify(ztunnelConfig(n.node, n.bindAddress, caDir, net)));
        // Per-connection info logs would be 10k lines in the memory phase and real CPU in the
        // connection-rate phase; warnings still show in the error output.
        // weft's V8 flags, as every weft launcher passes them (src/common/node-flags.ts).
        const child = spawnChild(`ztunnel ${n.node}`, process.execPath, [...WEFT_NODE_FLAGS, weftMain, "ztunnel", "--config", file], {
          env: { ...process.env, WEFT_LOG: process.env.WEFT_LOG ?? "warn", WEFT_HBONE_ENGINE: engine },
        });
        if (!child.ok) {
          await stop();
          return child;
        }
        children.push(child.value);
      }
      for (const [i, n] of NODES.entries()) {
        const ready = await waitReady(n.bindAddress, children[i]!);
        if (!ready.ok) {
          await stop();
          return ready;
        }
      }
      const [a, b] = children as [Child, Child];
      return ok({
        target: { host: VIP, port: 80 },
        clientAddress: CLIENT,
        upstream: { host: SERVER, port: 5201 },
        proxies: [
          { role: "ztunnel node-a (client side)", pid: a.pid },
          { role: "ztunnel node-b (server side)", pid: b.pid },
        ],
        description: `weft ztunnel pair (node ${process.version}), HBONE over TLS 1.3 mutual auth, ECDSA P-256`,
        check: () => {
          for (const c of [a, b]) {
            if (c.exited() != null) return err(new Error(`${c.name} exited (${c.exited()}): ${c.output().trim().slice(-800)}`));
          }
          return ok(undefined);
        },
        verify: () => countMutualTls(NODES[0].bindAddress),
        stop,
      });
    },
  };
}

const METRICS_PORT = 15020;

/**
 * Sums ztunnel A's `istio_tcp_connections_opened_total{reporter="source"}` by
 * connection_security_policy: every bench connection must have been opened as mutual_tls.
 */
async function countMutualTls(host: string): Promise<Result<string>> {
  const body = await new Promise<Result<string>>((resolve) => {
    const req = get({ host, port: METRICS_PORT, path: "/metrics", timeout: 5000 }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (text += c));
      res.on("end", () => resolve(res.statusCode === 200 ? ok(text) : err(new Error(`metrics: HTTP ${res.statusCode}`))));
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", (e) => resolve(err(new Error(`metrics: ${e.message}`))));
  });
  if (!body.ok) return body;
  const byPolicy = new Map<string, number>();
  for (const line of body.value.split("\n")) {
    if (!line.startsWith("istio_tcp_connections_opened_total{") || !line.includes('reporter="source"')) continue;
    const policy = /connection_security_policy="([^"]*)"/.exec(line)?.[1] ?? "unknown";
    const value = Number(line.slice(line.lastIndexOf(" ") + 1));
    if (Number.isFinite(value)) byPolicy.set(policy, (byPolicy.get(policy) ?? 0) + value);
  }
  const mtls = byPolicy.get("mutual_tls") ?? 0;
  const other = [...byPolicy].filter(([k]) => k !== "mutual_tls");
  if (mtls === 0) return err(new Error("ztunnel node-a reports no mutual_tls connection opened: the traffic did not go through HBONE"));
  if (other.length)
    return err(new Error(`ztunnel node-a opened connections without mutual TLS: ${other.map(([k, v]) => `${k}=${v}`).join(", ")}`));
  return ok(`ztunnel node-a metrics: ${mtls} connections opened, all with connection_security_policy="mutual_tls"`);
}

async function waitReady(host: string, child: Child): Promise<Result<void>> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let last = "no answer";
  while (Date.now() < deadline) {
    if (child.exited() != null)
      return err(new Error(`${child.name} exited (${child.exited()}) before ready: ${child.output().trim().slice(-1500)}`));
    const status = await new Promise<number | string>((resolve) => {
      const req = get({ host, port: READY_PORT, path: "/healthz/ready", timeout: 1000 }, (res) => {
        res.resume();
        resolve(res.statusCode ?? "no status");
      });
      req.on("timeout", () => req.destroy(new Error("timeout")));
      req.on("error", (e) => resolve(e.message));
    });
    if (status === 200) return ok(undefined);
    last = String(status);
    await sleep(100);
  }
  return err(
    new Error(
      `${child.name}: not ready at http://${host}:${READY_PORT}/healthz/ready after ${READY_TIMEOUT_MS} ms (last: ${last}): ${child.output().trim().slice(-1500)}`,
    ),
  );
}
