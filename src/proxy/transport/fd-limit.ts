/**
 * The open-file limit, watched. Past RLIMIT_NOFILE every new connection is refused at once by
 * the event loop itself (libuv's accept keeps a spare descriptor: it closes it, accepts the
 * pending connection, closes that and re-opens the spare, so the client sees its connection
 * closed instead of waiting in the backlog), and every upstream dial fails with EMFILE. None
 * of that reaches JavaScript on the accept side, so without this a proxy at its limit refuses
 * clients silently. `FdLimitWatch` samples the number of open descriptors once a second (one
 * stat(2) of /proc/self/fd, whose size is the count on Linux >= 6.2; a readdir otherwise) and
 * says so in the log: a warning when the process is at its limit (repeated every 30 s while it
 * lasts) and a line when it is below again (issue 14).
 */
import { readFileSync, readdirSync, statSync } from "node:fs";

/** The soft and hard "Max open files" of a /proc/<pid>/limits text; undefined for "unlimited" or absent. */
export function parseOpenFileLimit(limitsText: string): { soft: number; hard: number } | undefined {
  const m = /^Max open files\s+(\d+)\s+(\d+)/m.exec(limitsText);
  return m ? { soft: Number(m[1]), hard: Number(m[2]) } : undefined;
}

/** Descriptors this process has open now. */
export function openFdCount(): number {
  const size = statSync("/proc/self/fd").size;
  return size > 0 ? size : readdirSync("/proc/self/fd").length;
}

export interface FdLimitState {
  readonly exhausted: boolean;
  /** When the last warning was given (ms), for the repeat interval. */
  readonly warnedAt: number;
}

export type FdLimitEvent = { kind: "exhausted"; open: number; limit: number } | { kind: "recovered"; open: number; limit: number };

/**
 * The decision of one sample: at the limit means fewer than `headroom` descriptors left (one
 * accepted connection needs one for the client and one for its upstream; the spare libuv keeps
 * is among the open ones). Pure.
 */
export function fdLimitStep(
  state: FdLimitState,
  sample: { open: number; limit: number; now: number },
  opts: { headroom: number; repeatMs: number },
): { state: FdLimitState; event?: FdLimitEvent } {
  const atLimit = sample.open >= sample.limit - opts.headroom;
  const { open, limit } = sample;
  if (atLimit && (!state.exhausted || sample.now - state.warnedAt >= opts.repeatMs))
    return { state: { exhausted: true, warnedAt: sample.now }, event: { kind: "exhausted", open, limit } };
  if (!atLimit && state.exhausted)
    return { state: { exhausted: false, warnedAt: state.warnedAt }, event: { kind: "recovered", open, limit } };
  return { state };
}

export interface FdLimitWatchOptions {
  readonly onEvent: (e: FdLimitEvent) => void;
  readonly intervalMs?: number;
  readonly headroom?: number;
  readonly repeatMs?: number;
  /** Tests: the limit and the count instead of /proc/self. */
  readonly limit?: number;
  readonly count?: () => number;
}

export class FdLimitWatch {
  private timer: NodeJS.Timeout | undefined;
  private state: FdLimitState = { exhausted: false, warnedAt: 0 };
  readonly limit: number | undefined;

  constructor(private readonly opts: FdLimitWatchOptions) {
    this.limit = opts.limit ?? readLimit();
  }

  /** Starts sampling (an unref'd timer); without a known limit there is nothing to watch. */
  start(): void {
    if (this.limit === undefined || this.timer) return;
    this.timer = setInterval(() => this.sample(), this.opts.intervalMs ?? 1000);
    this.timer.unref();
  }

  sample(): void {
    if (this.limit === undefined) return;
    let open: number;
    try {
      open = (this.opts.count ?? openFdCount)();
    } catch (e) {
      // stat(2) takes no descriptor, but the readdir fallback does: EMFILE there is the answer.
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== "EMFILE" && code !== "ENFILE") return;
      open = this.limit;
    }
    const r = fdLimitStep(
      this.state,
      { open, limit: this.limit, now: Date.now() },
      { headroom: this.opts.headroom ?? 4, repeatMs: this.opts.repeatMs ?? 30_000 },
    );
    this.state = r.state;
    if (r.event) this.opts.onEvent(r.event);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}

function readLimit(): number | undefined {
  try {
    return parseOpenFileLimit(readFileSync("/proc/self/limits", "utf8"))?.soft;
  } catch {
    return undefined;
  }
}
