/**
 * The delta ADS server (`DeltaAggregatedResources`): one AdsConnection per ztunnel stream,
 * all serving from one ResourceStore.
 *
 * Lifecycle of a stream: authenticate the bearer token (UNAUTHENTICATED otherwise) -> the first
 * request must carry a well-formed node id whose namespace is the caller's (INVALID_ARGUMENT /
 * PERMISSION_DENIED) -> per type URL, the first request sets up the subscription (wildcard,
 * names, initial_resource_versions) and is always answered, even with nothing, so the client
 * knows it is in sync -> later requests are ACKs, NACKs, or subscription changes.
 *
 * Pushes: store changes are collected and flushed at most `debounceMs` after the first change
 * (a burst of updates becomes one response per client; latency stays bounded). Each client is
 * sent only the changed names it subscribes to and does not already hold at that version.
 *
 * NACK: logged with the client id, nonce, the resources of that response and the client's
 * error; the client's state is not rolled back and nothing is resent, so a client that rejects
 * a version is not sent it again in a loop. The next change of a resource is sent normally.
 */
import { type ServerDuplexStream, status } from "@grpc/grpc-js";
import { randomBytes } from "node:crypto";
import { logger } from "../../common/log.js";
import { parseUri } from "../../common/spiffe.js";
import type { DeltaRequest, OutgoingDeltaResponse } from "../../common/xds/delta-wire.js";
import type { Authenticator, Caller } from "../auth/authenticator.js";
import { authenticateCall, callError } from "./caller-auth.js";
import { type XdsMetrics, noXdsMetrics } from "./metrics.js";
import { type NodeId, parseNodeId } from "./node-id.js";
import type { ResourceStore, StoreEntry } from "./resource-store.js";
import { type Delta, type Subscription, applyRequest, changedDelta, fullDelta, newSubscription, recordSent } from "./subscription.js";

const log = logger("controlplane.xds");

export interface AdsServerOptions {
  readonly store: ResourceStore;
  readonly authenticator: Authenticator;
  /** Upper bound on the delay between a store change and its push. Default 50 ms. */
  readonly debounceMs?: number;
  /** Split responses above this size (grpc-js clients refuse > 4 MiB by default). Default 4 MiB. */
  readonly maxResponseBytes?: number;
  readonly metrics?: XdsMetrics;
}

export interface AdsClientInfo {
  readonly id: string;
  readonly node: string;
  readonly identity: string;
  readonly types: Record<string, { wildcard: boolean; names: number; known: number; nacks: number }>;
}

type Stream = ServerDuplexStream<DeltaRequest, OutgoingDeltaResponse>;

interface TypeState {
  readonly sub: Subscription;
  /** Names per outstanding nonce (for NACK logs); bounded. */
  readonly nonces: Map<string, string[]>;
  nacks: number;
}

const MAX_TRACKED_NONCES = 64;

class AdsConnection {
  private readonly types = new Map<string, TypeState>();
  private node: NodeId | undefined;
  private nonceSeq = 0;
  private readonly noncePrefix = randomBytes(4).toString("hex");
  id: string;
  closed = false;

  constructor(
    private readonly server: AdsServer,
    private readonly stream: Stream,
    readonly caller: Caller,
    seq: number,
  ) {
    this.id = `conn-${seq}`;
  }

  info(): AdsClientInfo {
    const types: AdsClientInfo["types"] = {};
    for (const [t, s] of this.types) types[t] = { wildcard: s.sub.wildcard, names: s.sub.names.size, known: s.sub.known.size, nacks: s.nacks };
    return { id: this.id, node: this.caller.node ?? "", identity: this.caller.identity, types };
  }

  /** Handles one request; returns false if the stream was failed. */
  handle(req: DeltaRequest): boolean {
    if (!this.node) {
      const id = req.node?.id;
      if (!id) return this.fail(status.INVALID_ARGUMENT, "first request must carry node.id");
      const parsed = parseNodeId(id);
      if (!parsed.ok) return this.fail(status.INVALID_ARGUMENT, parsed.error.message);
      const ident = parseUri(this.caller.identity);
      if (!ident.ok || ident.value.namespace !== parsed.value.namespace) {
        return this.fail(status.PERMISSION_DENIED, `node id ${id} is in namespace ${parsed.value.namespace}, caller ${this.caller.identity} is not`);
      }
      this.node = parsed.value;
      this.id = `${id}/${this.id}`;
      log.info({ client: this.id, caller: this.caller.identity, node: this.caller.node }, "xds client connected");
    }
    if (!this.server.store.has(req.typeUrl)) {
      log.warn({ client: this.id, typeUrl: req.typeUrl }, "request for an unknown type url ignored");
      return true;
    }
    let ts = this.types.get(req.typeUrl);
    const first = !ts;
    if (!ts) {
      ts = { sub: newSubscription(), nonces: new Map(), nacks: 0 };
      this.types.set(req.typeUrl, ts);
    }
    if (req.responseNonce) {
      const names = ts.nonces.get(req.responseNonce);
      ts.nonces.delete(req.responseNonce);
      if (req.errorDetail) {
        ts.nacks++;
        this.server.metrics.nacked(req.typeUrl);
        log.warn(
          { client: this.id, typeUrl: req.typeUrl, nonce: req.responseNonce, resources: names?.slice(0, 20), error: req.errorDetail.message },
          "client rejected resources (NACK): keeping its last state, not resending that version",
        );
      }
    }
    const changesSubscription = first || req.subscribe.length > 0 || req.unsubscribe.length > 0;
    if (!changesSubscription) return true;
    applyRequest(ts.sub, { subscribe: req.subscribe, unsubscribe: req.unsubscribe, initialVersions: req.initialVersions }, first);
    const delta = fullDelta(ts.sub, this.server.store.all(req.typeUrl));
    this.send(req.typeUrl, ts, delta, first);
    return true;
  }

  /** A store push: only `changed` names are considered. */
  push(typeUrl: string, changed: Set<string>): void {
    const ts = this.types.get(typeUrl);
    if (!ts || this.closed) return;
    this.send(typeUrl, ts, changedDelta(ts.sub, this.server.store.all(typeUrl), changed), false);
  }

  private send(typeUrl: string, ts: TypeState, delta: Delta, always: boolean): void {
    if (this.closed || (!always && delta.upserts.length === 0 && delta.removals.length === 0)) return;
    const limit = this.server.maxResponseBytes;
    const chunks: StoreEntry[][] = [[]];
    let size = 0;
    for (const e of delta.upserts) {
      if (size + e.resourceField.length > limit && chunks[chunks.length - 1]!.length > 0) {
        chunks.push([]);
        size = 0;
      }
      chunks[chunks.length - 1]!.push(e);
      size += e.resourceField.length;
    }
    chunks.forEach((chunk, i) => {
      const last = i === chunks.length - 1;
      const nonce = `${this.noncePrefix}-${++this.nonceSeq}`;
      const removed = last ? delta.removals : [];
      const resp: OutgoingDeltaResponse = {
        typeUrl,
        nonce,
        systemVersionInfo: String(this.server.generation),
        removed,
        resourceFields: chunk.map((e) => e.resourceField),
      };
      ts.nonces.set(nonce, [...chunk.map((e) => e.name), ...removed]);
      if (ts.nonces.size > MAX_TRACKED_NONCES) ts.nonces.delete(ts.nonces.keys().next().value!);
      const bytes = chunk.reduce((n, e) => n + e.resourceField.length, 0);
      this.stream.write(resp);
      this.server.metrics.pushed(typeUrl, chunk.length, removed.length, bytes);
    });
    recordSent(ts.sub, delta);
  }

  fail(code: status, details: string): false {
    log.warn({ client: this.id, code: status[code], details }, "closing xds stream");
    this.stream.emit("error", callError(code, details));
    this.closed = true;
    return false;
  }
}

export class AdsServer {
  readonly store: ResourceStore;
  readonly metrics: XdsMetrics;
  readonly maxResponseBytes: number;
  /** Incremented on every flush; sent as system_version_info (debugging only). */
  generation = 0;
  private readonly conns = new Set<AdsConnection>();
  private readonly debounceMs: number;
  private timer: NodeJS.Timeout | undefined;
  private seq = 0;

  constructor(private readonly opts: AdsServerOptions) {
    this.store = opts.store;
    this.metrics = opts.metrics ?? noXdsMetrics;
    this.debounceMs = opts.debounceMs ?? 50;
    this.maxResponseBytes = opts.maxResponseBytes ?? 4 * 1024 * 1024;
    this.store.onChange(() => this.schedule());
  }

  /** The grpc-js handler for DeltaAggregatedResources. */
  readonly handler = (stream: Stream): void => {
    const queue: DeltaRequest[] = [];
    let conn: AdsConnection | undefined;
    let ended = false;
    stream.on("data", (req: DeltaRequest) => {
      if (conn) {
        if (!conn.closed) conn.handle(req);
      } else queue.push(req);
    });
    const cleanup = () => {
      if (ended) return;
      ended = true;
      if (conn && this.conns.delete(conn)) {
        conn.closed = true;
        this.metrics.clientDisconnected();
        log.info({ client: conn.id }, "xds client disconnected");
      }
    };
    stream.on("end", () => {
      cleanup();
      stream.end();
    });
    stream.on("error", cleanup);
    stream.on("cancelled", cleanup);
    stream.on("close", cleanup);
    void authenticateCall(this.opts.authenticator, stream.metadata).then((caller) => {
      if (ended) return;
      if (!caller.ok) {
        log.warn({ peer: stream.getPeer(), details: caller.error.details }, "xds stream rejected");
        stream.emit("error", caller.error);
        return;
      }
      conn = new AdsConnection(this, stream, caller.value, ++this.seq);
      this.conns.add(conn);
      this.metrics.clientConnected();
      for (const req of queue.splice(0)) if (!conn.closed) conn.handle(req);
    });
  };

  clients(): AdsClientInfo[] {
    return [...this.conns].map((c) => c.info());
  }

  /** Pushes pending changes now (tests, shutdown); normally the debounce timer does it. */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const changes = this.store.takeChanges();
    if (changes.size === 0) return;
    this.generation++;
    for (const conn of this.conns) {
      for (const [typeUrl, names] of changes) {
        try {
          conn.push(typeUrl, names);
        } catch (e) {
          log.error({ err: e, client: conn.id }, "push failed");
        }
      }
    }
  }

  /** Stops the push timer; streams are closed by the gRPC server's shutdown. */
  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => this.flush(), this.debounceMs);
  }
}
