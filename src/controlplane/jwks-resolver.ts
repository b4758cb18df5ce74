/**
 * The control plane's JWKS resolver (istiod's JwksResolver in its default mode): fetches each
 * RequestAuthentication `jwksUri` itself, caches the key set, refreshes it periodically
 * (istiod: PILOT_JWT_PUB_KEY_REFRESH_INTERVAL, 20 min) and retries failures sooner; waypoints get
 * the keys inline. `lookup` never blocks: an unknown URI starts a fetch and reads as unknown
 * (the translation then sends an empty key set, so tokens fail closed until keys arrive), and
 * `onChange` asks the waypoint pipeline to recompute when keys appear or change. A response
 * that is not a JWKS keeps the previous keys (logged).
 */
import { logger } from "../common/log.js";

const log = logger("controlplane.jwks");

export interface JwksResolverOptions {
  readonly refreshMs?: number;
  readonly retryMs?: number;
  readonly timeoutMs?: number;
}

interface Entry {
  keys?: string;
  fetching: boolean;
  timer?: NodeJS.Timeout;
  lastUsed: number;
}

export class JwksResolver {
  private readonly entries = new Map<string, Entry>();
  private readonly listeners = new Set<() => void>();
  private stopped = false;

  constructor(private readonly opts: JwksResolverOptions = {}) {}

  /** The cached JWKS text for `uri`, or undefined (a fetch is started). */
  lookup = (uri: string): string | undefined => {
    let e = this.entries.get(uri);
    if (!e) {
      e = { fetching: false, lastUsed: Date.now() };
      this.entries.set(uri, e);
      void this.fetch(uri, e);
    }
    e.lastUsed = Date.now();
    return e.keys;
  };

  onChange(f: () => void): () => void {
    this.listeners.add(f);
    return () => this.listeners.delete(f);
  }

  stop(): void {
    this.stopped = true;
    for (const e of this.entries.values()) if (e.timer) clearTimeout(e.timer);
  }

  private async fetch(uri: string, e: Entry): Promise<void> {
    if (e.fetching || this.stopped) return;
    e.fetching = true;
    let ok = false;
    try {
      const res = await fetch(uri, { signal: AbortSignal.timeout(this.opts.timeoutMs ?? 5_000) });
      const text = await res.text();
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      const parsed = JSON.parse(text) as { keys?: unknown };
      if (!Array.isArray(parsed.keys)) throw new Error("the response is not a JWKS (no keys array)");
      ok = true;
      const canonical = JSON.stringify(parsed);
      if (canonical !== e.keys) {
        e.keys = canonical;
        log.info({ uri, keys: parsed.keys.length }, "jwks fetched");
        for (const f of this.listeners) f();
      }
    } catch (err) {
      log.warn(
        { uri, err: (err as Error).message },
        e.keys ? "jwks refresh failed; keeping the previous keys" : "jwks fetch failed; tokens for it are refused",
      );
    } finally {
      e.fetching = false;
    }
    if (this.stopped) return;
    e.timer = setTimeout(() => void this.fetch(uri, e), ok ? (this.opts.refreshMs ?? 20 * 60_000) : (this.opts.retryMs ?? 5_000));
    e.timer.unref();
  }
}
