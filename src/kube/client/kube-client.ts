/**
 * A small Kubernetes API client: one HTTPS connection pool, JSON requests, and streaming watches.
 *
 * Why not @kubernetes/client-node: v2 is ESM-only and pulls undici 8, which needs Node >= 22.19
 * and fails to load on Node 20 (`createZstdDecompress` is undefined). The control plane needs
 * only GET/POST and watch streams, so this file does them with node:https.
 *
 * Invariants: every failure is a `KubeError` value with a stable code (never a throw); a watch
 * stream is parsed line by line (the apiserver sends one JSON WatchEvent per line) and a line
 * that is not JSON ends the stream with a `decode` error rather than being skipped, so the
 * caller re-lists instead of silently missing an event.
 */
import https from "node:https";
import http from "node:http";
import { readFileSync } from "node:fs";
import type { Result } from "../../common/result.js";
import { ok, err } from "../../common/result.js";
import type { KubeClientConfig } from "./kube-config.js";

export type KubeErrorCode = "transport" | "status" | "decode" | "aborted";

export class KubeError extends Error {
  constructor(
    readonly code: KubeErrorCode,
    message: string,
    /** HTTP status (for `status`), or the `code` of a watch ERROR event's Status. */
    readonly httpStatus?: number,
    /** The Status `reason` (e.g. `NotFound`, `Expired`, `Gone`) when the server sent one. */
    readonly reason?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "KubeError";
  }
}

export interface WatchEvent {
  readonly type: "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR";
  readonly object: Record<string, unknown>;
}

export interface RequestOptions {
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
}

const tokenFileTtlMs = 60_000;

export class KubeClient {
  private readonly agent: https.Agent | http.Agent;
  private readonly base: URL;
  private tokenCache?: { token: string; readAt: number };

  constructor(private readonly config: KubeClientConfig) {
    this.base = new URL(config.server);
    this.agent =
      this.base.protocol === "https:"
        ? new https.Agent({
            keepAlive: true,
            ca: config.ca,
            cert: config.cert,
            key: config.key,
            rejectUnauthorized: !config.insecureSkipTlsVerify,
          })
        : new http.Agent({ keepAlive: true });
  }

  get server(): string {
    return this.config.server;
  }

  /** A JSON request; 2xx answers decode to T, anything else is a `status` error. */
  async request<T>(
    method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE",
    path: string,
    body?: unknown,
    opts: RequestOptions = {},
  ): Promise<Result<T, KubeError>> {
    const res = await this.send(method, path, body, opts);
    if (!res.ok) return res;
    const { status, text } = await readAll(res.value, opts.signal);
    if (status === undefined) return err(new KubeError("transport", `${method} ${path}: response interrupted: ${text}`));
    if (status < 200 || status > 299) return err(statusError(`${method} ${path}`, status, text));
    try {
      return ok(JSON.parse(text) as T);
    } catch (e) {
      return err(new KubeError("decode", `${method} ${path}: response is not JSON`, status, undefined, { cause: e }));
    }
  }

  /**
   * Opens a watch and calls `onEvent` for every event until the server ends the stream (ok),
   * the signal aborts (`aborted`), or something breaks. An ERROR event is passed to `onEvent`
   * like the others: the caller decides (410 Gone means re-list).
   */
  async watch(path: string, onEvent: (e: WatchEvent) => void, signal: AbortSignal): Promise<Result<void, KubeError>> {
    const res = await this.send("GET", path, undefined, { signal });
    if (!res.ok) return res;
    const msg = res.value;
    if (msg.statusCode !== 200) {
      const { text } = await readAll(msg, signal);
      return err(statusError(`watch ${path}`, msg.statusCode ?? 0, text));
    }
    return new Promise((resolve) => {
      let buf = "";
      let done = false;
      const finish = (r: Result<void, KubeError>): void => {
        if (done) return;
        done = true;
        signal.removeEventListener("abort", onAbort);
        msg.destroy();
        resolve(r);
      };
      const onAbort = (): void => finish(err(new KubeError("aborted", `watch ${path}: aborted`)));
      signal.addEventListener("abort", onAbort, { once: true });
      msg.setEncoding("utf8");
      msg.on("data", (chunk: string) => {
        buf += chunk;
        let nl: number;
        while (!done && (nl = buf.indexOf("\n")) >= 0) {
          const line = buf.slice(0, nl).trim();
          buf = buf.slice(nl + 1);
          if (line === "") continue;
          let ev: WatchEvent;
          try {
            ev = JSON.parse(line) as WatchEvent;
          } catch (e) {
            finish(err(new KubeError("decode", `watch ${path}: event is not JSON`, undefined, undefined, { cause: e })));
            return;
          }
          if (typeof ev?.type !== "string" || typeof ev.object !== "object" || ev.object === null) {
            finish(err(new KubeError("decode", `watch ${path}: event has no type or object`)));
            return;
          }
          onEvent(ev);
        }
      });
      msg.on("end", () => finish(ok(undefined)));
      msg.on("error", (e) => finish(err(new KubeError("transport", `watch ${path}: ${e.message}`, undefined, undefined, { cause: e }))));
      msg.on("aborted", () => finish(err(new KubeError("transport", `watch ${path}: connection aborted`))));
    });
  }

  /** Closes pooled connections. */
  close(): void {
    this.agent.destroy();
  }

  private bearer(): string | undefined {
    if (this.config.token) return this.config.token;
    if (!this.config.tokenFile) return undefined;
    const now = Date.now();
    if (!this.tokenCache || now - this.tokenCache.readAt > tokenFileTtlMs) {
      // Projected tokens rotate on disk; re-read them now and then.
      this.tokenCache = { token: readFileSync(this.config.tokenFile, "utf8").trim(), readAt: now };
    }
    return this.tokenCache.token;
  }

  private send(method: string, path: string, body: unknown, opts: RequestOptions): Promise<Result<http.IncomingMessage, KubeError>> {
    return new Promise((resolve) => {
      let token: string | undefined;
      try {
        token = this.bearer();
      } catch (e) {
        resolve(err(new KubeError("transport", `${method} ${path}: reading token file: ${(e as Error).message}`)));
        return;
      }
      const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
      const headers: Record<string, string> = { accept: "application/json" };
      if (token) headers.authorization = `Bearer ${token}`;
      if (payload) {
        headers["content-type"] = method === "PATCH" ? "application/merge-patch+json" : "application/json";
        headers["content-length"] = String(payload.length);
      }
      const url = new URL(path, this.base);
      const mod = url.protocol === "https:" ? https : http;
      const req = mod.request(url, { method, headers, agent: this.agent, signal: opts.signal });
      let settled = false;
      const settle = (r: Result<http.IncomingMessage, KubeError>): void => {
        if (!settled) {
          settled = true;
          resolve(r);
        }
      };
      if (opts.timeoutMs !== undefined) {
        req.setTimeout(opts.timeoutMs, () => req.destroy(new Error(`no answer within ${opts.timeoutMs} ms`)));
      }
      req.on("response", (res) => settle(ok(res)));
      req.on("error", (e) => {
        const aborted = opts.signal?.aborted === true;
        settle(
          err(new KubeError(aborted ? "aborted" : "transport", `${method} ${path}: ${e.message}`, undefined, undefined, { cause: e })),
        );
      });
      req.end(payload);
    });
  }
}

function readAll(res: http.IncomingMessage, signal?: AbortSignal): Promise<{ status?: number; text: string }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    // The signal is long-lived (a whole source): drop the listener once this body is read.
    const onAbort = (): void => void res.destroy();
    const done = (r: { status?: number; text: string }): void => {
      signal?.removeEventListener("abort", onAbort);
      resolve(r);
    };
    res.on("data", (c: Buffer) => chunks.push(c));
    res.on("end", () => done({ status: res.statusCode, text: Buffer.concat(chunks).toString("utf8") }));
    res.on("error", (e) => done({ text: e.message }));
    res.on("aborted", () => done({ text: "connection aborted" }));
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** Turns an error answer (usually a metav1.Status) into a KubeError keeping code and reason. */
export function statusError(what: string, httpStatus: number, text: string): KubeError {
  let reason: string | undefined;
  let message = text.slice(0, 300);
  try {
    const s = JSON.parse(text) as { reason?: unknown; message?: unknown };
    if (typeof s.reason === "string") reason = s.reason;
    if (typeof s.message === "string") message = s.message;
  } catch {
    // not a Status: keep the raw text
  }
  return new KubeError("status", `${what}: ${httpStatus}${reason ? ` ${reason}` : ""}: ${message}`, httpStatus, reason);
}
