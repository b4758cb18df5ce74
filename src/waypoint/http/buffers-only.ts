/**
 * Makes an HTTP/2 stream safe to use as the "socket" of Node's HTTP/1.1 server or client.
 * Hazard (seen on Node 20): Node's HTTP/1.1 code writes status lines and headers as strings;
 * an Http2Stream (decodeStrings: false) hands such strings to its native write path, and
 * small ones were observed to go out as garbage (freed memory in place of "HTTP/1.1 418 ..."),
 * corrupting responses and requests inside HBONE tunnels at random. Converting strings to
 * Buffers before the stream's own _write/_writev avoids that path entirely.
 */
import type { Duplex } from "node:stream";

type WriteFn = (chunk: unknown, encoding: BufferEncoding, cb: (e?: Error | null) => void) => void;
type WritevFn = (chunks: Array<{ chunk: unknown; encoding: BufferEncoding }>, cb: (e?: Error | null) => void) => void;

const patched = new WeakSet<Duplex>();

const toBuffer = (chunk: unknown, encoding: BufferEncoding): unknown =>
  typeof chunk === "string" ? Buffer.from(chunk, encoding === ("buffer" as BufferEncoding) ? "utf8" : encoding) : chunk;

export function buffersOnly<T extends Duplex>(d: T): T {
  if (patched.has(d)) return d;
  patched.add(d);
  const s = d as unknown as { _write: WriteFn; _writev?: WritevFn };
  const write = s._write.bind(d);
  s._write = (chunk, encoding, cb) => write(toBuffer(chunk, encoding), "buffer" as BufferEncoding, cb);
  if (s._writev) {
    const writev = s._writev.bind(d);
    s._writev = (chunks, cb) =>
      writev(
        chunks.map((c) => ({ chunk: toBuffer(c.chunk, c.encoding), encoding: "buffer" as BufferEncoding })),
        cb,
      );
  }
  return d;
}
