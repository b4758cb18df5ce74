/**
 * A loopback TCP proxy in front of the real test API server that can stop forwarding: what a
 * client sees of a stalled API server (overloaded, paused, behind a network that drops packets
 * without a reset). Connections are still accepted, but while stalled no byte moves in either
 * direction: what arrives is held (new connections are not even connected upstream yet).
 * `resume()` passes on what was held and lets everything flow again. A client that gives up
 * meanwhile (closes) takes its held bytes with it: they never reach the API server, so a request
 * that timed out during a stall was not made. Bytes are passed on as they are (TLS end to end:
 * the proxy listens on the API server's IP, for which its certificate is valid).
 */
import net from "node:net";

/** One direction of a connection: bytes held while stalled, and whether its end is held too. */
interface Lane {
  held: Buffer[];
  ended: boolean;
}

interface Pair {
  readonly client: net.Socket;
  upstream?: net.Socket;
  readonly up: Lane;
  readonly down: Lane;
}

export class StallProxy {
  private stalled = false;
  private readonly pairs = new Set<Pair>();
  /** Connections accepted so far. */
  accepted = 0;

  private constructor(
    private readonly server: net.Server,
    private readonly target: { host: string; port: number },
    readonly port: number,
  ) {}

  /** Listens on `host` (an ephemeral port) and forwards to `target`. */
  static async start(host: string, target: { host: string; port: number }): Promise<StallProxy> {
    const holder: { proxy?: StallProxy } = {};
    const server = net.createServer((client) => holder.proxy?.accept(client));
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, host, () => resolve());
    });
    holder.proxy = new StallProxy(server, target, (server.address() as net.AddressInfo).port);
    return holder.proxy;
  }

  /** Stops forwarding: nothing moves until resume(). */
  stall(): void {
    this.stalled = true;
  }

  resume(): void {
    this.stalled = false;
    for (const p of this.pairs) {
      if (!p.upstream) this.connect(p);
      else this.flush(p);
    }
  }

  async close(): Promise<void> {
    for (const p of this.pairs) {
      p.client.destroy();
      p.upstream?.destroy();
    }
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: net.Socket): void {
    this.accepted++;
    const p: Pair = { client, up: { held: [], ended: false }, down: { held: [], ended: false } };
    this.pairs.add(p);
    client.on("error", () => undefined);
    client.on("data", (d: Buffer) => {
      if (this.stalled || !p.upstream) p.up.held.push(d);
      else p.upstream.write(d);
    });
    client.once("end", () => {
      if (this.stalled || !p.upstream) p.up.ended = true;
      else p.upstream.end();
    });
    client.once("close", () => {
      // Gone before its bytes were passed on: they are dropped with it.
      this.pairs.delete(p);
      p.upstream?.destroy();
    });
    if (!this.stalled) this.connect(p);
  }

  private connect(p: Pair): void {
    if (p.client.destroyed) return;
    const up = net.connect(this.target);
    p.upstream = up;
    up.on("error", () => p.client.destroy());
    up.once("close", () => p.client.destroy());
    up.on("data", (d: Buffer) => {
      if (this.stalled) p.down.held.push(d);
      else p.client.write(d);
    });
    up.once("end", () => {
      if (this.stalled) p.down.ended = true;
      else p.client.end();
    });
    this.flush(p);
  }

  private flush(p: Pair): void {
    const up = p.upstream!;
    for (const d of p.up.held.splice(0)) up.write(d);
    if (p.up.ended) up.end();
    for (const d of p.down.held.splice(0)) p.client.write(d);
    if (p.down.ended) p.client.end();
  }
}
