/**
 * Connection-error hygiene for HBONE HTTP/2 sessions (both ends), where Node's http2 decides
 * differently from RFC 9113 and gives no option to change it.
 *
 * Node reports some conditions by calling `session.destroy(new NghttpError(errno))` from inside
 * frame processing, and `destroy(error)` always sends GOAWAY(INTERNAL_ERROR). Measured on Node
 * 20 (test/hbone/edge.test.ts):
 * - an unsolicited PING ACK (errno NGHTTP2_ERR_PROTO) closed the connection; RFC 9113 §6.7 says
 *   the receiver ignores a PING ACK it did not expect;
 * - a WINDOW_UPDATE overflowing the connection window (NGHTTP2_ERR_FLOW_CONTROL) went out as
 *   INTERNAL_ERROR; RFC 9113 §6.9.1 requires FLOW_CONTROL_ERROR.
 * For these non-fatal library errors nghttp2 has, at the same moment, already decided the
 * RFC's answer itself (GOAWAY with the right code for a connection error, RST_STREAM for a
 * stream error, nothing for a stray ACK). So the guard lets nghttp2's answer stand: it does not
 * destroy for a non-fatal errno. Whether nghttp2 ended the connection is not visible from
 * JavaScript (it just stops reading), so the guard then sends one PING: a live session answers
 * it; one nghttp2 has terminated cannot, and is destroyed after `probeTimeoutMs` (its GOAWAY with
 * the right code has gone out first).
 * Fatal library errors (flooding, a bad preface, callback failures such as too many invalid
 * frames) still destroy at once, with ENHANCE_YOUR_CALM or PROTOCOL_ERROR instead of
 * INTERNAL_ERROR where the cause is known.
 */
import { type Http2Session, constants as h2 } from "node:http2";
import { logger } from "../../common/log.js";

const log = logger("ztunnel.hbone.guard");

// nghttp2 library error codes (nghttp2.h); anything <= -900 is fatal.
const NGHTTP2_ERR_PROTO = -505;
const NGHTTP2_ERR_FLOW_CONTROL = -524;
const NGHTTP2_ERR_STREAM_CLOSED = -510;
const NGHTTP2_ERR_FATAL = -900;
const NGHTTP2_ERR_BAD_CLIENT_MAGIC = -903;
const NGHTTP2_ERR_FLOODED = -904;

interface NghttpErrorLike extends Error {
  readonly code: string;
  readonly errno: number;
}

function nghttpError(e: unknown): NghttpErrorLike | undefined {
  if (!(e instanceof Error)) return undefined;
  const x = e as Partial<NghttpErrorLike>;
  return typeof x.errno === "number" && typeof x.code === "string" && x.code.startsWith("ERR_HTTP2_") ? (e as NghttpErrorLike) : undefined;
}

/** The decision for one library error. Pure: table-tested in session-guard.test.ts. */
export type GuardDecision =
  /** nghttp2 has answered per the RFC; keep the session, then check it is still alive. */
  | { readonly kind: "keep"; readonly reason: string }
  /** Destroy now with this GOAWAY code. */
  | { readonly kind: "destroy"; readonly code: number };

export function decideLibraryError(errno: number, customCode: string): GuardDecision {
  if (errno > NGHTTP2_ERR_FATAL) {
    const reason =
      errno === NGHTTP2_ERR_PROTO
        ? "protocol error (an unsolicited PING/SETTINGS ACK, or a frame nghttp2 answered itself)"
        : errno === NGHTTP2_ERR_FLOW_CONTROL
          ? "flow-control error (nghttp2 answers FLOW_CONTROL_ERROR)"
          : errno === NGHTTP2_ERR_STREAM_CLOSED
            ? "frame on a closed stream (nghttp2 answers STREAM_CLOSED)"
            : `library error ${errno}`;
    return { kind: "keep", reason };
  }
  if (errno === NGHTTP2_ERR_FLOODED || customCode === "ERR_HTTP2_TOO_MANY_INVALID_FRAMES") {
    return { kind: "destroy", code: h2.NGHTTP2_ENHANCE_YOUR_CALM };
  }
  if (errno === NGHTTP2_ERR_BAD_CLIENT_MAGIC) return { kind: "destroy", code: h2.NGHTTP2_PROTOCOL_ERROR };
  return { kind: "destroy", code: h2.NGHTTP2_INTERNAL_ERROR };
}

export interface GuardOptions {
  /** How long a session has to answer the liveness PING after a library error. */
  readonly probeTimeoutMs: number;
  /** Called for every library error that did not destroy the session (metrics, tests). */
  readonly onKept?: (reason: string) => void;
}

/** Installs the guard on `session` (an own `destroy` that filters Node's library errors). */
export function guardSession(session: Http2Session, opts: GuardOptions): void {
  const destroy = session.destroy.bind(session) as (error?: Error, code?: number) => void;
  let probing = false;
  const probe = () => {
    if (probing || session.destroyed) return;
    probing = true;
    const timer = setTimeout(() => {
      log.info("hbone: session stopped after a peer protocol error, closing the connection");
      destroy(new Error("hbone: peer protocol error ended the session"), h2.NGHTTP2_PROTOCOL_ERROR);
    }, opts.probeTimeoutMs);
    timer.unref();
    session.once("close", () => clearTimeout(timer));
    try {
      session.ping((e) => {
        if (e) return; // the session is going away; close clears the timer
        clearTimeout(timer);
        probing = false;
      });
    } catch {
      // Too many outstanding pings: the timer decides.
    }
  };
  (session as { destroy: (error?: Error, code?: number) => void }).destroy = (error?: Error, code?: number) => {
    const ne = code === undefined ? nghttpError(error) : undefined;
    if (!ne) return destroy(error, code);
    const d = decideLibraryError(ne.errno, ne.code);
    if (d.kind === "destroy") return destroy(error, d.code);
    log.debug({ errno: ne.errno, reason: d.reason }, "hbone: peer protocol error handled by nghttp2, connection kept");
    opts.onKept?.(d.reason);
    // After the current frame is processed: nghttp2 may be terminating the session right now.
    setImmediate(probe);
  };
}
