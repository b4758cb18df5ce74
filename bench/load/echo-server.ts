/**
 * The upstream server of the latency, connection-rate and open-connection phases: a raw TCP
 * echo (every byte received is sent back, with backpressure) with TCP_NODELAY. It runs as its
 * own process (`node dist/bench/load/echo-server.js HOST PORT`) so that it never shares an
 * event loop with the load generator, and prints "listening" once bound.
 */
import { createServer } from "node:net";

function main(argv: readonly string[]): void {
  const host = argv[0];
  const port = Number(argv[1]);
  if (!host || !Number.isInteger(port) || port <= 0 || port > 65535) {
    console.error("usage: echo-server.js HOST PORT");
    process.exit(2);
  }
  const server = createServer({ noDelay: true }, (sock) => {
    // Peers reset connections when a phase ends; that is not an error of the server.
    sock.on("error", () => sock.destroy());
    sock.pipe(sock);
  });
  server.maxConnections = 1 << 20;
  server.on("error", (e) => {
    console.error(`echo-server: ${host}:${port}: ${e.message}`);
    process.exit(1);
  });
  server.listen({ host, port, backlog: 4096 }, () => {
    process.stdout.write("listening\n");
  });
  for (const sig of ["SIGTERM", "SIGINT"] as const) process.on(sig, () => process.exit(0));
}

main(process.argv.slice(2));
