/**
 * A hostile HTTP/2 peer for the HBONE edge tests: real mutual TLS (the mesh client certificate),
 * then hand-written frames, so a test can send what a well-behaved library never would
 * (streams past MAX_CONCURRENT_STREAMS, unsolicited PING ACKs, DATA past the window, resets
 * before the answer) and see every frame the server sends back, with its error codes.
 *
 * Header blocks are encoded as HPACK literals without indexing and without Huffman (RFC 7541
 * §6.2.2), which any decoder must accept. Received header blocks are not decoded; tests look at
 * frame types, flags, stream ids and error codes only.
 */
import tls from "node:tls";
import type { WorkloadCertificate } from "../../src/common/tls/types.js";
import type { SocketAddress } from "../../src/common/net/addr.js";
import { clientTlsOptions } from "../../src/proxy/hbone/tls-context.js";
import type { Identity } from "../../src/common/spiffe.js";

export const FRAME = { DATA: 0, HEADERS: 1, PRIORITY: 2, RST_STREAM: 3, SETTINGS: 4, PING: 6, GOAWAY: 7, WINDOW_UPDATE: 8 } as const;
export const FLAG = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4 } as const;
export const CODE = {
  NO_ERROR: 0,
  PROTOCOL_ERROR: 1,
  INTERNAL_ERROR: 2,
  FLOW_CONTROL_ERROR: 3,
  STREAM_CLOSED: 5,
  FRAME_SIZE_ERROR: 6,
  REFUSED_STREAM: 7,
  CANCEL: 8,
  ENHANCE_YOUR_CALM: 11,
} as const;
const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

export interface Frame {
  readonly type: number;
  readonly flags: number;
  readonly stream: number;
  readonly payload: Buffer<ArrayBufferLike>;
}

export function frame(type: number, flags: number, stream: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(stream & 0x7fffffff, 5);
  return Buffer.concat([h, payload]);
}

function hpackInt(value: number, prefixBits: number, first: number): number[] {
  const max = (1 << prefixBits) - 1;
  if (value < max) return [first | value];
  const out = [first | max];
  value -= max;
  while (value >= 128) {
    out.push((value % 128) + 128);
    value = Math.floor(value / 128);
  }
  out.push(value);
  return out;
}

/** An HPACK header block of literals (no indexing, no Huffman). */
export function headerBlock(headers: readonly (readonly [string, string])[]): Buffer {
  const bytes: number[] = [];
  for (const [name, value] of headers) {
    bytes.push(0x00, ...hpackInt(name.length, 7, 0), ...Buffer.from(name, "latin1"));
    bytes.push(...hpackInt(value.length, 7, 0), ...Buffer.from(value, "latin1"));
  }
  return Buffer.from(bytes);
}

export function connectHeaders(stream: number, authority: string, endStream = false): Buffer {
  const block = headerBlock([
    [":method", "CONNECT"],
    [":authority", authority],
  ]);
  return frame(FRAME.HEADERS, FLAG.END_HEADERS | (endStream ? FLAG.END_STREAM : 0), stream, block);
}

export function rstStream(stream: number, code: number): Buffer {
  const p = Buffer.alloc(4);
  p.writeUInt32BE(code);
  return frame(FRAME.RST_STREAM, 0, stream, p);
}

export function settings(entries: readonly (readonly [number, number])[] = [], ack = false): Buffer {
  const p = Buffer.alloc(entries.length * 6);
  entries.forEach(([id, v], i) => {
    p.writeUInt16BE(id, i * 6);
    p.writeUInt32BE(v, i * 6 + 2);
  });
  return frame(FRAME.SETTINGS, ack ? FLAG.ACK : 0, 0, p);
}

export function ping(ack: boolean, data: Buffer<ArrayBufferLike> = Buffer.alloc(8, 7)): Buffer {
  return frame(FRAME.PING, ack ? FLAG.ACK : 0, 0, data);
}

export function windowUpdate(stream: number, increment: number): Buffer {
  const p = Buffer.alloc(4);
  p.writeUInt32BE(increment);
  return frame(FRAME.WINDOW_UPDATE, 0, stream, p);
}

export function data(stream: number, bytes: number | Buffer, endStream = false): Buffer {
  return frame(FRAME.DATA, endStream ? FLAG.END_STREAM : 0, stream, typeof bytes === "number" ? Buffer.alloc(bytes, 0x61) : bytes);
}

/** The error code of an RST_STREAM or GOAWAY frame. */
export function errorCode(f: Frame): number {
  return f.type === FRAME.GOAWAY ? f.payload.readUInt32BE(4) : f.payload.readUInt32BE(0);
}

export class RawH2 {
  readonly frames: Frame[] = [];
  closed = false;
  private buf: Buffer = Buffer.alloc(0);
  private waiters: (() => void)[] = [];

  private constructor(readonly socket: tls.TLSSocket) {
    socket.on("data", (c: Buffer) => this.onData(c));
    socket.on("error", () => {});
    socket.once("close", () => {
      this.closed = true;
      this.wake();
    });
  }

  /**
   * mTLS to `address` with `cert`, then the preface and `initialSettings`; answers the server's
   * SETTINGS with an ACK unless `ackSettings` is false.
   */
  static async connect(
    address: SocketAddress,
    cert: WorkloadCertificate,
    expected: readonly Identity[],
    opts: { initialSettings?: readonly (readonly [number, number])[]; ackSettings?: boolean } = {},
  ): Promise<RawH2> {
    const socket = tls.connect({ host: address.ip, port: address.port, ...clientTlsOptions(cert, { expected }) });
    await new Promise<void>((resolve, reject) => {
      socket.once("secureConnect", () => resolve());
      socket.once("error", reject);
    });
    const raw = new RawH2(socket);
    socket.write(Buffer.concat([PREFACE, settings(opts.initialSettings ?? [])]));
    const serverSettings = await raw.waitFor((f) => f.type === FRAME.SETTINGS && (f.flags & FLAG.ACK) === 0);
    if (!serverSettings) throw new Error("raw h2: server sent no SETTINGS");
    if (opts.ackSettings !== false) socket.write(settings([], true));
    return raw;
  }

  send(...bufs: Buffer[]): boolean {
    if (this.closed || this.socket.destroyed) return false;
    return this.socket.write(Buffer.concat(bufs));
  }

  /** The first frame (already received or arriving within `ms`) matching `pred`; undefined on close or timeout. */
  async waitFor(pred: (f: Frame) => boolean, ms = 3_000): Promise<Frame | undefined> {
    const until = Date.now() + ms;
    for (;;) {
      const hit = this.frames.find(pred);
      if (hit) return hit;
      if (this.closed || Date.now() >= until) return undefined;
      await new Promise<void>((r) => {
        const t = setTimeout(r, until - Date.now());
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  /** Resolves true once the connection closed (within `ms`). */
  async waitClosed(ms = 3_000): Promise<boolean> {
    await this.waitFor(() => false, ms);
    return this.closed;
  }

  goaway(): Frame | undefined {
    return this.frames.find((f) => f.type === FRAME.GOAWAY);
  }

  rstOf(stream: number): Frame | undefined {
    return this.frames.find((f) => f.type === FRAME.RST_STREAM && f.stream === stream);
  }

  /** HEADERS frames the server sent on `stream` (its answers). */
  headersOn(stream: number): Frame[] {
    return this.frames.filter((f) => f.type === FRAME.HEADERS && f.stream === stream);
  }

  destroy(): void {
    this.socket.destroy();
  }

  private onData(c: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, c]) : Buffer.from(c);
    while (this.buf.length >= 9) {
      const len = this.buf.readUIntBE(0, 3);
      if (this.buf.length < 9 + len) break;
      const f: Frame = {
        type: this.buf[3]!,
        flags: this.buf[4]!,
        stream: this.buf.readUInt32BE(5) & 0x7fffffff,
        payload: Buffer.from(this.buf.subarray(9, 9 + len)),
      };
      this.buf = this.buf.subarray(9 + len);
      // Answer PINGs and grant nothing else: the tests decide what else to send.
      if (f.type === FRAME.PING && (f.flags & FLAG.ACK) === 0) this.send(ping(true, f.payload));
      this.frames.push(f);
    }
    this.wake();
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const fn of w) fn();
  }
}

/** HTTP/2 :status of a HEADERS frame from Node's server, when it used the HPACK static table (200, 204, 206, 304, 400, 404, 500). */
export function staticStatus(f: Frame): number | undefined {
  const first = f.payload[0];
  if (first === undefined || (first & 0x80) === 0) return undefined;
  return { 8: 200, 9: 204, 10: 206, 11: 304, 12: 400, 13: 404, 14: 500 }[first & 0x7f];
}
