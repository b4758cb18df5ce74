/**
 * The interop test's hands inside a network namespace it created (test/interop/
 * upstream-ztunnel.test.ts): echo servers that record who connected, SOCKS5 clients through
 * either ztunnel, and HTTP GETs of admin endpoints that listen only inside the namespace
 * (upstream ztunnel's config dump is on its localhost). Driven over JSON lines on stdin/stdout
 * with the capture tests' Agent (test/capture/topology.ts), protocol in
 * test/support/json-lines-agent.ts.
 *
 * Requests:  {"id":1,"op":"echo","host":"198.19.216.21","port":8080}
 *            {"id":2,"op":"peers"}   (remote addresses seen by the echo servers, then cleared)
 *            {"id":3,"op":"socks","proxy":{"host":"127.0.0.1","port":15080},
 *                    "localAddress":"198.19.216.11","target":{"host":"198.19.216.2","port":8080},
 *                    "payload":"hello","timeoutMs":5000}
 *              -> {"echoed":"hello"} | {"refused":<SOCKS reply>} | {"closed":"<what happened>"}
 *            {"id":4,"op":"get","url":"http://127.0.0.1:15000/config_dump"} -> {"status":200,"body":"..."}
 */
import * as net from "node:net";
import { exchange, socksConnect, SocksError } from "../support/socks.js";
import { serveJsonLines } from "../support/json-lines-agent.js";

interface Request {
  readonly id: number;
  readonly op: string;
  readonly host?: string;
  readonly port?: number;
  readonly proxy?: { host: string; port: number };
  readonly localAddress?: string;
  readonly target?: { host: string; port: number };
  readonly payload?: string;
  readonly timeoutMs?: number;
  readonly url?: string;
}

const peers: Array<{ listener: string; remote: string }> = [];

async function echo(host: string, port: number): Promise<void> {
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    peers.push({ listener: `${host}:${port}`, remote: String(s.remoteAddress) });
    s.on("error", () => undefined);
    s.pipe(s);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host, port }, resolve);
  });
}

type SocksOutcome = { echoed: string } | { refused: number } | { closed: string };

/** One connection through a SOCKS5 listener; every outcome is a value the test asserts on. */
async function socks(req: Request): Promise<SocksOutcome> {
  const timeoutMs = req.timeoutMs ?? 5000;
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<SocksOutcome>((resolve) => {
    timer = setTimeout(() => resolve({ closed: `no answer within ${timeoutMs} ms` }), timeoutMs);
  });
  const attempt = (async (): Promise<SocksOutcome> => {
    try {
      const s = await socksConnect({
        proxy: req.proxy!,
        ...(req.localAddress ? { localAddress: req.localAddress } : {}),
        target: req.target!,
      });
      s.on("error", () => undefined);
      return { echoed: await exchange(s, req.payload ?? "") };
    } catch (e) {
      if (e instanceof SocksError) return { refused: e.reply };
      return { closed: e instanceof Error ? e.message : String(e) };
    }
  })();
  try {
    return await Promise.race([attempt, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

async function get(url: string, timeoutMs: number): Promise<{ status: number; body: string }> {
  const r = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  return { status: r.status, body: await r.text() };
}

async function handle(req: Request): Promise<unknown> {
  switch (req.op) {
    case "echo":
      return echo(req.host!, req.port!);
    case "peers":
      return peers.splice(0, peers.length);
    case "socks":
      return socks(req);
    case "get":
      return get(req.url!, req.timeoutMs ?? 3000);
    default:
      throw new Error(`unknown op ${req.op}`);
  }
}

serveJsonLines(handle);
