/**
 * HTTP/2 keepalive for HBONE connections (both ends): a PING every `intervalMs`; if one is
 * still unanswered `timeoutMs` after it was sent, the peer is presumed dead and the session is
 * destroyed with a `ping timeout` error, so pools evict it and its streams fail instead of
 * hanging. At most one PING is outstanding. Timers are unref'd: keepalive never keeps a
 * process alive, and stops when the session closes.
 */
import type { Http2Session } from "node:http2";

export interface KeepaliveOptions {
  /** 0 disables keepalive. */
  readonly intervalMs: number;
  readonly timeoutMs: number;
  /** Called before the session is destroyed for a missed PING (logging, metrics). */
  readonly onTimeout?: () => void;
}

export class PingTimeoutError extends Error {
  override readonly name = "PingTimeoutError";
  readonly code = "HBONE_PING_TIMEOUT";
}

/** Starts keepalive on `session`; returns a function that stops it (also stops on close). */
export function startKeepalive(session: Http2Session, opts: KeepaliveOptions): () => void {
  if (opts.intervalMs <= 0) return () => {};
  let deadline: NodeJS.Timeout | undefined;
  const stop = () => {
    clearInterval(interval);
    if (deadline) clearTimeout(deadline);
    deadline = undefined;
  };
  const interval = setInterval(() => {
    if (deadline || session.destroyed || session.closed) return;
    deadline = setTimeout(() => {
      stop();
      opts.onTimeout?.();
      session.destroy(new PingTimeoutError(`hbone: no ping answer within ${opts.timeoutMs} ms, dropping connection`));
    }, opts.timeoutMs);
    deadline.unref();
    try {
      session.ping((e) => {
        // An error here means the session is going away; 'close' stops the loop.
        if (!e && deadline) {
          clearTimeout(deadline);
          deadline = undefined;
        }
      });
    } catch {
      // Too many outstanding pings or a destroyed session: the deadline decides.
    }
  }, opts.intervalMs);
  interval.unref();
  session.once("close", stop);
  return stop;
}
