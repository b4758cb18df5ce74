/**
 * A byte relay between a TCP address and a unix socket, the test bed's bridge from the test
 * process' network namespace into `wtb-net` (where kube-apiserver listens) without touching the
 * root namespace's interfaces: one relay runs inside wtb-net (unix socket -> 10.250.0.1:6443),
 * one outside (127.0.0.1:36443 -> that unix socket); a unix socket is a file, so it crosses
 * network namespaces. TLS passes through untouched.
 *
 * Usage: node relay.js listen-unix PATH connect-tcp HOST:PORT
 *        node relay.js listen-tcp HOST:PORT connect-unix PATH [--pid-file FILE]
 * Prints "ready" on stdout once listening.
 */
import net from "node:net";
import { rmSync, writeFileSync } from "node:fs";

function hostPort(s: string): { host: string; port: number } {
  const i = s.lastIndexOf(":");
  const port = Number(s.slice(i + 1));
  if (i < 0 || !Number.isInteger(port)) throw new Error(`relay: "${s}" is not HOST:PORT`);
  return { host: s.slice(0, i), port };
}

function main(): void {
  const [mode, listen, connectMode, target] = process.argv.slice(2);
  if (
    !listen ||
    !target ||
    !["listen-unix", "listen-tcp"].includes(mode ?? "") ||
    !["connect-tcp", "connect-unix"].includes(connectMode ?? "")
  ) {
    throw new Error("usage: relay.js listen-unix|listen-tcp ADDR connect-tcp|connect-unix ADDR [--pid-file FILE]");
  }
  const pidIdx = process.argv.indexOf("--pid-file");
  if (pidIdx > 0) writeFileSync(process.argv[pidIdx + 1]!, String(process.pid));
  const dial = (): net.Socket => (connectMode === "connect-tcp" ? net.connect(hostPort(target)) : net.connect(target));
  const server = net.createServer((client) => {
    const upstream = dial();
    client.pipe(upstream).pipe(client);
    const close = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on("error", close).on("close", close);
    upstream.on("error", close).on("close", close);
  });
  server.on("error", (e) => {
    console.error(`relay: ${e.message}`);
    process.exit(1);
  });
  if (mode === "listen-unix") {
    rmSync(listen, { force: true });
    server.listen(listen, () => console.log("ready"));
  } else {
    const { host, port } = hostPort(listen);
    server.listen(port, host, () => console.log("ready"));
  }
  for (const sig of ["SIGTERM", "SIGINT"] as const) process.on(sig, () => process.exit(0));
}

main();
