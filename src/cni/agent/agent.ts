/**
 * The node agent: keeps the pods of its node (CNI events on a Unix socket, Pod and Namespace
 * objects from a ConfigSource) and makes the redirection backend hold exactly the captures
 * enrollment.ts decides, live: a label change re-plans, no pod restart is involved.
 *
 * Lifecycle: start() restores the sandboxes it knew (state file; sandboxes whose netns is gone
 * are dropped) and the captures the previous run applied: when that run's backend kind and
 * version (backend.version()) are this one's, the kernel state is kept as it is (adopted) and
 * the first reconcile after the source has synced releases what is no longer desired and
 * enrolls every desired pod again (idempotent); otherwise (no state, another backend, an
 * upgrade) it removes what the previous run left (backend.cleanupStale) first. Then it sets the
 * backend up, starts the config source and the socket, and reconciles once the source has
 * synced. stop() leaves the captures in place unless asked to tear down. Together: an agent
 * restart of the same build opens no window in which enrolled pods talk in clear.
 *
 * Invariants: reconciles never overlap (one chain); a failed enroll leaves the pod out of
 * `applied`, so the next reconcile (at the latest the periodic one) retries it; after a restart
 * every desired pod is re-enrolled until one round succeeds whole; the state file (sandboxes,
 * and the applied captures with the backend's kind and version) is written atomically after
 * each change.
 */
import * as http from "node:http";
import { existsSync } from "node:fs";
import { mkdir, readFile, rename, rm, rmdir, writeFile } from "node:fs/promises";
import * as path from "node:path";
import { logger } from "../../common/log.js";
import { type Result, ok, err } from "../../common/result.js";
import type { ConfigSink, ConfigSource } from "../../kube/source.js";
import type { RedirectBackend } from "../../capture/backend.js";
import { AGENT_PATH, type AgentReply, type AgentStatus, type PodEvent } from "../../capture/agent-api.js";
import { type Capture, plan, planAfterRestart } from "./enrollment.js";
import { PodTable, type SandboxRecord } from "./pod-table.js";

const log = logger("cni.agent");

export interface NodeAgentOptions {
  readonly node: string;
  readonly socketPath: string;
  readonly stateFile: string;
  readonly backend: RedirectBackend;
  readonly source: ConfigSource;
  /** Periodic reconcile (retries failed enrolls); default 5000 ms; 0 disables. */
  readonly resyncMs?: number;
  /** How long a CNI ADD waits for the first config sync; default 4000 ms. */
  readonly syncWaitMs?: number;
}

export class NodeAgent {
  readonly table: PodTable;
  private readonly applied = new Map<string, Capture>();
  private server?: http.Server;
  private chain: Promise<void> = Promise.resolve();
  private timer?: NodeJS.Timeout;
  private synced = false;
  private syncWaiters: (() => void)[] = [];
  private lastError?: string;
  private stopped = false;
  /** The backend's version() at start, written to the state file with the applied captures. */
  private version = "";
  /** Set when start() adopted the previous run's captures: re-enroll every desired pod until a round succeeds. */
  private verifyAll = false;
  private saving: Promise<void> = Promise.resolve();

  constructor(private readonly opts: NodeAgentOptions) {
    this.table = new PodTable(opts.node);
  }

  async start(): Promise<Result<void>> {
    const backend = this.opts.backend;
    const version = await backend.version();
    if (!version.ok) return err(new Error(`cni-agent: backend ${backend.kind}: ${version.error.message}`, { cause: version.error }));
    this.version = version.value;
    const saved = await this.loadState();
    const prev = saved.capture;
    if (prev && prev.backend === backend.kind && prev.version === this.version) {
      for (const c of prev.applied) this.applied.set(c.key, c);
      this.verifyAll = true;
      log.info(
        { backend: backend.kind, version: this.version, pods: prev.applied.length },
        "kept the previous run's captures (same backend and version)",
      );
    } else {
      if (prev)
        log.warn(
          { previous: `${prev.backend} ${prev.version}`, now: `${backend.kind} ${this.version}`, pods: prev.applied.length },
          "the previous run's captures are of another backend or version: removed, and re-applied once the config source has synced",
        );
      const stale = await backend.cleanupStale();
      if (!stale.ok)
        return err(new Error(`cni-agent: cleaning a previous run's capture state: ${stale.error.message}`, { cause: stale.error }));
      if (stale.value.length) log.info({ removed: stale.value }, "removed stale capture state");
    }
    const setup = await backend.setup();
    if (!setup.ok) return err(new Error(`cni-agent: backend ${backend.kind} setup: ${setup.error.message}`, { cause: setup.error }));
    this.table.restore(saved.sandboxes);
    const listening = await this.listen();
    if (!listening.ok) return listening;
    const sink: ConfigSink = {
      apply: (events) => {
        this.table.applyConfig(events);
        if (this.synced) void this.reconcile();
      },
      onInvalid: (p) => log.warn({ origin: p.origin.source, object: p.object, field: p.field }, `invalid object ignored: ${p.reason}`),
      synced: () => {
        if (this.synced) return;
        this.synced = true;
        for (const w of this.syncWaiters.splice(0)) w();
        void this.reconcile();
      },
    };
    await this.opts.source.start(sink);
    const every = this.opts.resyncMs ?? 5000;
    if (every > 0) this.timer = setInterval(() => void this.reconcile(), every).unref();
    log.info({ node: this.opts.node, socket: this.opts.socketPath, backend: this.opts.backend.kind }, "node agent started");
    return ok(undefined);
  }

  /** Stops serving; with `teardown`, also removes every capture (used by `weft local down`). */
  async stop(opts: { teardown?: boolean } = {}): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    this.server?.closeAllConnections();
    await this.opts.source.stop();
    await this.chain;
    await this.saving;
    if (opts.teardown) {
      const t = await this.opts.backend.teardown();
      if (!t.ok) log.warn({ error: t.error.message }, "teardown failed");
      // Nothing to restore any more: the sandboxes' state goes with the captures, and its folder when empty.
      await rm(this.opts.stateFile, { force: true });
    }
    await rm(this.opts.socketPath, { force: true });
    if (opts.teardown)
      for (const dir of new Set([path.dirname(this.opts.stateFile), path.dirname(this.opts.socketPath)]))
        await rmdir(dir).catch(() => undefined);
  }

  /** Makes the backend match the table; serialised. Resolves when this round is done. */
  reconcile(): Promise<void> {
    this.chain = this.chain
      .then(() => this.reconcileOnce())
      .catch((e: unknown) => {
        this.lastError = (e as Error).message;
        log.error({ error: this.lastError }, "reconcile failed");
      });
    return this.chain;
  }

  status(): AgentStatus {
    return {
      node: this.opts.node,
      backend: this.opts.backend.kind,
      synced: this.synced,
      pods: this.table.decisions().map((d) => ({ ...d, applied: this.applied.has(d.key) })),
      ...(this.lastError ? { lastError: this.lastError } : {}),
    };
  }

  private async reconcileOnce(): Promise<void> {
    if (this.stopped || !this.synced) return;
    const p = this.verifyAll ? planAfterRestart(this.table.desired(), this.applied) : plan(this.table.desired(), this.applied);
    const before = JSON.stringify([...this.applied]);
    let failure: string | undefined;
    for (const c of p.unenroll) {
      const r = await this.opts.backend.unenroll({ name: c.key, hostVeth: c.hostVeth, ips: c.ips });
      if (r.ok) {
        this.applied.delete(c.key);
        log.info({ pod: c.key, veth: c.hostVeth }, "pod released from capture");
      } else failure = `unenroll ${c.key}: ${r.error.message}`;
    }
    for (const c of p.enroll) {
      const r = await this.opts.backend.enroll({ name: c.key, hostVeth: c.hostVeth, ips: c.ips });
      if (r.ok) {
        this.applied.set(c.key, c);
        log.info({ pod: c.key, veth: c.hostVeth, ips: c.ips }, "pod enrolled");
      } else failure = `enroll ${c.key}: ${r.error.message}`;
    }
    if (failure) {
      this.lastError = failure;
      log.warn({ error: failure }, "reconcile incomplete; will retry");
    } else {
      this.lastError = undefined;
      this.verifyAll = false;
    }
    if (JSON.stringify([...this.applied]) !== before) await this.saveState();
  }

  private waitSynced(ms: number): Promise<boolean> {
    if (this.synced) return Promise.resolve(true);
    return new Promise((resolve) => {
      const t = setTimeout(() => resolve(false), ms);
      this.syncWaiters.push(() => {
        clearTimeout(t);
        resolve(true);
      });
    });
  }

  private async handleCni(ev: PodEvent): Promise<{ status: number; reply: AgentReply }> {
    if (ev.command === "CHECK") {
      const known = this.table.hasSandbox(ev.containerId);
      return known
        ? { status: 200, reply: { enrolled: this.applied.has(`${ev.namespace}/${ev.name}`) } }
        : { status: 404, reply: { error: `container ${ev.containerId} unknown to the node agent` } };
    }
    if (ev.command === "ADD" && !(await this.waitSynced(this.opts.syncWaitMs ?? 4000))) {
      return { status: 503, reply: { error: "node agent has not synced its config source yet" } };
    }
    const changed = this.table.applyCni(ev);
    if (changed) await this.saveState();
    await this.reconcile();
    const key = `${ev.namespace}/${ev.name}`;
    const want = this.table.desired().has(key);
    if (ev.command === "ADD" && want && !this.applied.has(key)) {
      // Fail closed: the runtime retries the sandbox rather than starting a pod uncaptured.
      return { status: 500, reply: { error: `pod ${key} must be enrolled but capture failed: ${this.lastError ?? "unknown"}` } };
    }
    log.info({ command: ev.command, pod: key, container: ev.containerId, enrolled: this.applied.has(key) }, "cni event");
    return { status: 200, reply: { enrolled: this.applied.has(key) } };
  }

  private async listen(): Promise<Result<void>> {
    await mkdir(path.dirname(this.opts.socketPath), { recursive: true });
    await rm(this.opts.socketPath, { force: true });
    const server = http.createServer((req, res) => {
      const send = (status: number, body: unknown): void => {
        res.writeHead(status, { "content-type": "application/json" });
        res.end(JSON.stringify(body));
      };
      if (req.method === "GET" && req.url === "/v1/status") return send(200, this.status());
      if (req.method !== "POST" || req.url !== AGENT_PATH) return send(404, { error: `no route ${req.method} ${req.url}` });
      const chunks: Buffer[] = [];
      let size = 0;
      req.on("data", (d: Buffer) => {
        size += d.length;
        if (size > 64 * 1024) req.destroy();
        else chunks.push(d);
      });
      req.on("end", () => {
        const ev = parseEvent(Buffer.concat(chunks).toString());
        if (!ev.ok) return send(400, { error: ev.error.message });
        this.handleCni(ev.value).then(
          (r) => send(r.status, r.reply),
          (e: unknown) => send(500, { error: (e as Error).message }),
        );
      });
    });
    return new Promise((resolve) => {
      server.once("error", (e) => resolve(err(new Error(`cni-agent: listening on ${this.opts.socketPath}: ${e.message}`))));
      server.listen(this.opts.socketPath, () => {
        this.server = server;
        resolve(ok(undefined));
      });
    });
  }

  private async loadState(): Promise<SavedState> {
    let text: string;
    try {
      text = await readFile(this.opts.stateFile, "utf8");
    } catch {
      return { sandboxes: [] };
    }
    const parsed = parseState(text);
    if (!parsed.ok) {
      log.warn({ file: this.opts.stateFile, error: parsed.error.message }, "state file unreadable; starting empty");
      return { sandboxes: [] };
    }
    // A sandbox whose namespace is gone was deleted while the agent was down.
    return { ...parsed.value, sandboxes: parsed.value.sandboxes.filter((r) => !r.netns || existsSync(r.netns)) };
  }

  /** Writes the state file atomically; writes are serialised (a CNI event and a reconcile may both save), each with the state of its turn. */
  private saveState(): Promise<void> {
    const write = async (): Promise<void> => {
      const tmp = `${this.opts.stateFile}.tmp`;
      await mkdir(path.dirname(this.opts.stateFile), { recursive: true });
      const capture = { backend: this.opts.backend.kind, version: this.version, applied: [...this.applied.values()] };
      await writeFile(tmp, JSON.stringify({ node: this.opts.node, sandboxes: this.table.sandboxRecords(), capture }, null, 1));
      await rename(tmp, this.opts.stateFile);
    };
    const next = this.saving.then(write, write);
    this.saving = next.catch(() => undefined);
    return next;
  }
}

/** The agent's state file: the CNI sandboxes it knows and the captures it applied, with their backend. */
export interface SavedState {
  readonly sandboxes: SandboxRecord[];
  readonly capture?: { readonly backend: string; readonly version: string; readonly applied: readonly Capture[] };
}

/**
 * Reads a state file. Sandboxes without a container id are dropped (as before); a `capture`
 * section that is not exactly of the expected shape is dropped whole, which makes the next
 * start clean up and re-apply rather than trust it.
 */
export function parseState(text: string): Result<SavedState> {
  let o: { sandboxes?: unknown; capture?: unknown };
  try {
    o = JSON.parse(text) as typeof o;
  } catch (e) {
    return err(new Error(`not JSON: ${(e as Error).message}`));
  }
  if (typeof o !== "object" || o === null) return err(new Error("not an object"));
  const sandboxes = (Array.isArray(o.sandboxes) ? (o.sandboxes as SandboxRecord[]) : []).filter((r) => typeof r?.containerId === "string");
  const c = o.capture as { backend?: unknown; version?: unknown; applied?: unknown } | undefined;
  const isCapture = (x: unknown): x is Capture => {
    const y = x as Capture;
    return (
      typeof y?.key === "string" && typeof y.hostVeth === "string" && Array.isArray(y.ips) && y.ips.every((ip) => typeof ip === "string")
    );
  };
  const capture =
    c && typeof c.backend === "string" && typeof c.version === "string" && Array.isArray(c.applied) && c.applied.every(isCapture)
      ? { backend: c.backend, version: c.version, applied: c.applied }
      : undefined;
  return ok(capture ? { sandboxes, capture } : { sandboxes });
}

/** Validates a plugin event at the socket edge. */
export function parseEvent(text: string): Result<PodEvent> {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(text) as Record<string, unknown>;
  } catch {
    return err(new Error("cni event: not JSON"));
  }
  if (typeof o !== "object" || o === null) return err(new Error("cni event: must be an object"));
  if (o.command !== "ADD" && o.command !== "DEL" && o.command !== "CHECK")
    return err(new Error(`cni event: command: ${JSON.stringify(o.command)} is not ADD, DEL or CHECK`));
  for (const f of ["containerId", "netns", "ifname", "namespace", "name"]) {
    if (typeof o[f] !== "string") return err(new Error(`cni event: ${f}: required string`));
  }
  if (o.containerId === "") return err(new Error("cni event: containerId: must not be empty"));
  if (!Array.isArray(o.ips) || !o.ips.every((ip) => typeof ip === "string"))
    return err(new Error("cni event: ips: must be a list of strings"));
  if (o.hostInterface !== undefined && typeof o.hostInterface !== "string")
    return err(new Error("cni event: hostInterface: must be a string"));
  return ok(o as unknown as PodEvent);
}
