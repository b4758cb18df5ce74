/**
 * The reference mTLS path: two stunnel4 processes, as a sidecar-style mesh would do it.
 *
 *   client (127.0.50.40) -> stunnel A accept 127.0.50.41:8080 (plaintext)
 *     -> TLS 1.3, client cert -> stunnel B accept 127.0.50.42:8443 (verifies the client chain)
 *     -> plaintext -> server 127.0.50.43:5201
 *
 * Both sides verify the peer's chain against the bench root; A also checks the server's DNS
 * SAN. ECDSA P-256 certificates come from `openssl-certs.ts`. TCP_NODELAY is set on every
 * socket (as the mesh does), so latency is not measured through Nagle's algorithm.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { err, ok, type Result } from "../../src/common/result.js";
import { makeTempDir, removeTempDir, runSync, spawnChild, stopChild, waitForPort, type Child } from "../proc.js";
import { makeBenchPki, type BenchPki } from "./openssl-certs.js";
import type { Peer, RunningPeer } from "./peer.js";

const CLIENT = "127.0.50.40";
const STUNNEL_A = { host: "127.0.50.41", port: 8080 };
const STUNNEL_B = { host: "127.0.50.42", port: 8443 };
const SERVER = { host: "127.0.50.43", port: 5201 };

const STUNNEL_BIN = "stunnel4";

export const stunnelPeer: Peer = {
  name: "stunnel",
  async start(): Promise<Result<RunningPeer>> {
    const version = runSync(STUNNEL_BIN, ["-version"]);
    // stunnel -version prints to stderr and exits 0 on 5.x; a failure here means it is missing.
    if (!version.ok && /ENOENT/.test(version.error.message))
      return err(new Error("stunnel: stunnel4 is not installed (scripts/setup.sh installs it)"));
    const dir = makeTempDir("stunnel");
    const pki = makeBenchPki(dir);
    if (!pki.ok) {
      removeTempDir(dir);
      return pki;
    }
    const children: Child[] = [];
    const stop = async (): Promise<void> => {
      await Promise.all(children.map((c) => stopChild(c)));
      children.length = 0;
      removeTempDir(dir);
    };
    // Server side first, so that the client side's first connection finds it.
    for (const side of ["server", "client"] as const) {
      const conf = join(dir, `${side}.conf`);
      writeFileSync(conf, stunnelConfig(side, pki.value));
      const child = spawnChild(`stunnel ${side} side`, STUNNEL_BIN, [conf], { cwd: dir });
      if (!child.ok) {
        await stop();
        return child;
      }
      children.push(child.value);
      const addr = side === "server" ? STUNNEL_B : STUNNEL_A;
      const up = await waitForPort(addr.host, addr.port, child.value);
      if (!up.ok) {
        await stop();
        return up;
      }
    }
    const [serverSide, clientSide] = children as [Child, Child];
    return ok({
      target: STUNNEL_A,
      clientAddress: CLIENT,
      upstream: SERVER,
      proxies: [
        { role: "client-side stunnel", pid: clientSide.pid },
        { role: "server-side stunnel", pid: serverSide.pid },
      ],
      description: `${stunnelVersion()} pair, TLS 1.3 mutual auth, ECDSA P-256, TCP_NODELAY`,
      check: () => {
        for (const c of [clientSide, serverSide]) {
          if (c.exited() != null) return err(new Error(`${c.name} exited (${c.exited()}): ${c.output().trim().slice(-800)}`));
        }
        return ok(undefined);
      },
      stop,
    });
  },
};

function stunnelConfig(side: "client" | "server", pki: BenchPki): string {
  const common = [
    "foreground = yes",
    "pid =",
    // notice would log one line per connection: 10k lines and measurable CPU.
    "debug = warning",
    "socket = l:TCP_NODELAY=1",
    "socket = r:TCP_NODELAY=1",
    "[bench]",
    `CAfile = ${pki.caCert}`,
    "verifyChain = yes",
    "sslVersionMin = TLSv1.3",
    "curves = prime256v1",
  ];
  if (side === "client") {
    return [
      ...common,
      "client = yes",
      `accept = ${STUNNEL_A.host}:${STUNNEL_A.port}`,
      `connect = ${STUNNEL_B.host}:${STUNNEL_B.port}`,
      `cert = ${pki.client.cert}`,
      `key = ${pki.client.key}`,
      `checkHost = ${pki.serverName}`,
      "",
    ].join("\n");
  }
  return [
    ...common,
    `accept = ${STUNNEL_B.host}:${STUNNEL_B.port}`,
    `connect = ${SERVER.host}:${SERVER.port}`,
    `cert = ${pki.server.cert}`,
    `key = ${pki.server.key}`,
    "requireCert = yes",
    "",
  ].join("\n");
}

function stunnelVersion(): string {
  // `stunnel4 -version` writes its banner to stderr, which runSync does not return.
  const r = runSync("sh", ["-c", `${STUNNEL_BIN} -version 2>&1 | grep -m1 -o 'stunnel [0-9.]*'`]);
  return r.ok && r.value.trim() !== "" ? r.value.trim() : "stunnel4";
}
