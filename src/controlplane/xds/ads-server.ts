/**
 * The delta ADS server (`DeltaAggregatedResources`): one AdsConnection per ztunnel stream,
 * all serving from one ResourceStore.
 *
 * Lifecycle of a stream: authenticate the bearer token (UNAUTHENTICATED otherwise) -> the first
 * request must carry a well-formed node id whose namespace is the caller's (INVALID_ARGUMENT /
 * PERMISSION_DENIED); a waypoint (node type `router`, metadata `WAYPOINT=<ns>/<gateway>`) must
 * be that Gateway's service account in that namespace (PERMISSION_DENIED otherwise) and is then
 * scoped to it: of the scoped kinds (the Envoy types) it sees only its Gateway's resources, and
 * other callers see none -> per type URL, the first request sets up the subscription (wildcard,
 * names, initial_resource_versions) and is always answered, even with nothing, so the client
 * knows it is in sync -> later requests are ACKs, NACKs, or subscription changes.
 *
 * Pushes: store changes are collected and flushed at most `debounceMs` after the first change
 * (a burst of updates becomes one response per client; latency stays bounded). Each client is
 * sent only the changed names it subscribes to and does not already hold at that version.
 *
 * Flow control: at most one response per type is in flight on a stream; the next is written when
 * the client ACKs or NACKs it. Large later deltas are split into responses of at most
 * `maxResponseBytes`. Changes that arrive while a client is busy are coalesced.
 *
 * NACK: logged with the client id, nonce, the resources of that response and the client's
 * error; the client's state is not rolled back and nothing is resent, so a client that rejects
 * a version is not sent it again in a loop. The next change of a resource is sent normally.
 */
import { type ServerDuplexStream, status } from "@grpc/grpc-js";
import { randomBytes } from "node:crypto";
import { logger } from "../../common/log.js";
import { parseUri } from "../../common/spiffe.js";
import { type DeltaRequest, type OutgoingDeltaResponse, encodeDeltaResponse } from "../../common/xds/delta-wire.js";
import type { Authenticator, Caller } from "../auth/authenticator.js";
import { authenticateCall, callError } from "./caller-auth.js";
import { type XdsMetrics, noXdsMetrics } from "./metrics.js";
import { type NodeId, parseNodeId } from "../../common/xds/node-id.js";
import { type ResourceStore, type StoreEntry, visibleTo } from "./resource-store.js";
import { type Delta, type Subscription, applyRequest, changedDelta, fullDelta, newSubscription, recordSent } from "./subscription.js";

const log = logger("controlplane.xds");

export interface AdsServerOptions {
  readonly store: ResourceStore;
  readonly authenticator: Authenticator;
  /** Upper bound on the delay between a store change and its push. Default 50 ms. */
  readonly debounceMs?: number;
  /**
   * Split later deltas above this size (grpc-js clients refuse > 4 MiB by default). The answer
   * to a type's first request is never split (it must be the complete initial state), so
   * clients must accept messages as large as the whole store. Default 4 MiB.
   */
  readonly maxResponseBytes?: number;
  readonly metrics?: XdsMetrics;
  /**
   * How many streams may have their initial response of a type unanswered at once; others
   * wait their turn. Bounds the memory of a fleet reconnecting together (each initial response
   * is the whole store, buffered per stream until written). Default 16.
   */
  readonly maxConcurrentInitialPushes?: number;
  /** Waypoint Gateways, to admit and scope waypoint callers; without it, waypoint callers are refused. */
  readonly waypoints?: WaypointDirectory;
}

/** Node metadata key naming the waypoint a caller is (`<ns>/<gateway>`), as Istio's waypoints send it. */
export const WAYPOINT_METADATA = "WAYPOINT";

export interface WaypointDirectory {
  /** The service account the waypoint `namespace/name` runs as, or undefined if no such waypoint Gateway exists. */
  serviceAccountOf(namespace: string, name: string): string | undefined;
}

export interface AdsClientInfo {
  readonly id: string;
  readonly node: string;
  readonly identity: string;
  /** `ns/gateway` for a waypoint caller. */
  readonly waypoint?: string;
  /** When the stream was accepted (ISO time); `peer` is its remote address. For `weft proxy-status`. */
  readonly connectedAt?: string;
  readonly peer?: string;
  readonly types: Record<string, AdsTypeInfo>;
}

/** One type URL on one stream, as `/debug/adsz` shows it. */
export interface AdsTypeInfo {
  wildcard: boolean;
  names: number;
  known: number;
  nacks: number;
  /** The last response written, the last one ACKed, the last one NACKed (with the client's error). */
  lastSent?: { nonce: string; at: string };
  lastAck?: { nonce: string; at: string };
  lastNack?: { nonce: string; at: string; error: string };
  /** A response awaits its ACK (`inFlight`), more are queued, or changes wait for the client. */
  inFlight?: string;
  queued: number;
  dirty: number;
}

type Stream = ServerDuplexStream<DeltaRequest, OutgoingDeltaResponse>;

interface TypeState {
  readonly sub: Subscription;
  /** Names per outstanding nonce (for NACK logs); bounded. */
  readonly nonces: Map<string, string[]>;
  nacks: number;
  /** Nonce of the response awaiting ACK/NACK; at most one in flight per type (flow control). */
  inFlight: string | undefined;
  /** Encoded responses waiting for the in-flight one to be answered (chunks of one delta). */
  readonly queue: EncodedResponse[];
  /** Names changed in the store while the client was busy; their delta is computed when it is ready. */
  readonly dirty: Set<string>;
  /** The first response of this type waits for an initial-push slot (see AdsServer.acquireSlot). */
  awaitingSlot: boolean;
  /** Nonce of the initial response holding a slot, released when it is answered. */
  slotNonce: string | undefined;
  /** For `/debug/adsz`: the last response written, ACKed and NACKed. */
  lastSent?: { nonce: string; at: string };
  lastAck?: { nonce: string; at: string };
  lastNack?: { nonce: string; at: string; error: string };
}

const MAX_TRACKED_NONCES = 64;

interface EncodedResponse {
  readonly nonce: string;
  /** Names upserted or removed by this response (for NACK logs). */
  readonly names: string[];
  readonly resources: number;
  readonly removals: number;
  readonly response: OutgoingDeltaResponse;
}

/** Encoded responses shared by the clients of one flush (or one store revision). */
interface SharedEncodings {
  readonly noncePrefix: string;
  readonly map: Map<string, EncodedResponse[]>;
  seq: number;
}

function deltaKey(d: Delta): string {
  let k = "";
  for (const e of d.upserts) k += `${e.name}@${e.version}\n`;
  k += "|";
  for (const n of d.removals) k += `${n}\n`;
  return k;
}

class AdsConnection {
  private readonly types = new Map<string, TypeState>();
  private node: NodeId | undefined;
  /** The waypoint (`ns/gateway`) this caller is, scoping what it sees; undefined for ztunnels. */
  private scope: string | undefined;
  private readonly visible = (e: StoreEntry) => visibleTo(e, this.scope);
  private nonceSeq = 0;
  private readonly noncePrefix = randomBytes(4).toString("hex");
  id: string;
  closed = false;
  readonly connectedAt = new Date().toISOString();

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
    for (const [t, s] of this.types)
      types[t] = {
        wildcard: s.sub.wildcard,
        names: s.sub.names.size,
        known: s.sub.known.size,
        nacks: s.nacks,
        ...(s.lastSent ? { lastSent: s.lastSent } : {}),
        ...(s.lastAck ? { lastAck: s.lastAck } : {}),
        ...(s.lastNack ? { lastNack: s.lastNack } : {}),
        ...(s.inFlight ? { inFlight: s.inFlight } : {}),
        queued: s.queue.length,
        dirty: s.dirty.size + (s.awaitingSlot ? 1 : 0),
      };
    return {
      id: this.id,
      node: this.caller.node ?? "",
      identity: this.caller.identity,
      connectedAt: this.connectedAt,
      peer: this.stream.getPeer(),
      ...(this.scope ? { waypoint: this.scope } : {}),
      types,
    };
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
        return this.fail(
          status.PERMISSION_DENIED,
          `node id ${id} is in namespace ${parsed.value.namespace}, caller ${this.caller.identity} is not`,
        );
      }
      const wp = req.node?.metadata?.[WAYPOINT_METADATA];
      if (parsed.value.type === "router" || wp !== undefined) {
        const scope = this.admitWaypoint(wp, ident.value);
        if (scope === false) return false;
        this.scope = scope;
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
      ts = {
        sub: newSubscription(),
        nonces: new Map(),
        nacks: 0,
        inFlight: undefined,
        queue: [],
        dirty: new Set(),
        awaitingSlot: false,
        slotNonce: undefined,
      };
      this.types.set(req.typeUrl, ts);
    }
    if (req.responseNonce) {
      const names = ts.nonces.get(req.responseNonce);
      ts.nonces.delete(req.responseNonce);
      const at = new Date().toISOString();
      if (req.errorDetail) ts.lastNack = { nonce: req.responseNonce, at, error: req.errorDetail.message };
      else ts.lastAck = { nonce: req.responseNonce, at };
      if (req.errorDetail) {
        ts.nacks++;
        this.server.metrics.nacked(req.typeUrl);
        log.warn(
          {
            client: this.id,
            typeUrl: req.typeUrl,
            nonce: req.responseNonce,
            resources: names?.slice(0, 20),
            error: req.errorDetail.message,
          },
          "client rejected resources (NACK): keeping its last state, not resending that version",
        );
      }
      if (req.responseNonce === ts.slotNonce) {
        ts.slotNonce = undefined;
        this.server.releaseSlot();
      }
      if (req.responseNonce === ts.inFlight) {
        ts.inFlight = undefined;
        this.pump(req.typeUrl, ts);
      }
    }
    const changesSubscription = first || req.subscribe.length > 0 || req.unsubscribe.length > 0;
    if (!changesSubscription) return true;
    applyRequest(ts.sub, { subscribe: req.subscribe, unsubscribe: req.unsubscribe, initialVersions: req.initialVersions }, first);
    if (ts.awaitingSlot) return true; // the initial response, computed later, covers this change
    if (first && !this.server.acquireSlot(this, req.typeUrl)) {
      ts.awaitingSlot = true;
      return true;
    }
    this.sendInitialOrDelta(req.typeUrl, ts, first);
    return true;
  }

  /** The waypoint scope of a `router` caller, or false after failing the stream. */
  private admitWaypoint(wp: string | undefined, ident: { namespace: string; serviceAccount: string }): string | false {
    const deny = (why: string): false => this.fail(status.PERMISSION_DENIED, why);
    if (!wp) return deny(`waypoint node without ${WAYPOINT_METADATA} metadata (want "<namespace>/<gateway>")`);
    const parts = wp.split("/");
    if (parts.length !== 2 || !parts[0] || !parts[1])
      return deny(`${WAYPOINT_METADATA} metadata ${JSON.stringify(wp)}: want "<namespace>/<gateway>"`);
    const [ns, name] = parts as [string, string];
    if (ns !== ident.namespace) return deny(`waypoint ${wp}: caller ${this.caller.identity} is not in namespace ${ns}`);
    const sa = this.server.waypoints?.serviceAccountOf(ns, name);
    if (sa === undefined) return deny(`waypoint ${wp}: no Gateway ${ns}/${name} of a waypoint class`);
    if (sa !== ident.serviceAccount) return deny(`waypoint ${wp} runs as service account ${sa}; caller ${this.caller.identity} is not it`);
    return wp;
  }

  /** Called by the server when an initial-push slot was granted to this waiting type. */
  slotGranted(typeUrl: string): void {
    const ts = this.types.get(typeUrl);
    if (!ts || this.closed) {
      this.server.releaseSlot();
      return;
    }
    ts.awaitingSlot = false;
    ts.dirty.clear();
    this.sendInitialOrDelta(typeUrl, ts, true);
  }

  /** Releases the slots this connection holds (stream closed). */
  releaseSlots(): void {
    for (const ts of this.types.values()) {
      if (ts.slotNonce !== undefined) {
        ts.slotNonce = undefined;
        this.server.releaseSlot();
      }
    }
  }

  private sendInitialOrDelta(typeUrl: string, ts: TypeState, first: boolean): void {
    // Scoped kinds differ per waypoint, so only unscoped ones share the whole-store encoding.
    const fresh = first && ts.sub.wildcard && ts.sub.names.size === 0 && ts.sub.known.size === 0 && !this.server.store.scoped(typeUrl);
    const delta = fullDelta(ts.sub, this.server.store.all(typeUrl), this.visible);
    // A fresh wildcard subscriber gets exactly the whole store: share that encoding between all
    // of them until the store changes (a fleet reconnecting after a control-plane restart).
    // The answer to a type's first request is never split: clients (upstream ztunnel included)
    // take the first response as the complete initial state.
    if (fresh) this.send(typeUrl, ts, delta, true, this.server.fullPushEncodings(typeUrl), "full", first);
    else this.send(typeUrl, ts, delta, first, undefined, undefined, first);
    if (first) ts.slotNonce = ts.inFlight;
  }

  /** A store push: only `changed` names are considered. */
  push(typeUrl: string, changed: Set<string>, shared: SharedEncodings): void {
    const ts = this.types.get(typeUrl);
    if (!ts || this.closed) return;
    if (ts.awaitingSlot || ts.inFlight || ts.queue.length) {
      // Busy: remember what changed; the delta is computed against what the client has when
      // it answers, so a slow client gets one coalesced update instead of a backlog.
      for (const n of changed) ts.dirty.add(n);
      return;
    }
    this.send(typeUrl, ts, changedDelta(ts.sub, this.server.store.all(typeUrl), changed, this.visible), false, shared);
  }

  /** Writes the next queued response if none is in flight; then any coalesced changes. */
  private pump(typeUrl: string, ts: TypeState): void {
    if (this.closed || ts.inFlight) return;
    const r = ts.queue.shift();
    if (r) {
      ts.inFlight = r.nonce;
      ts.nonces.set(r.nonce, r.names);
      if (ts.nonces.size > MAX_TRACKED_NONCES) ts.nonces.delete(ts.nonces.keys().next().value!);
      this.stream.write(r.response);
      ts.lastSent = { nonce: r.nonce, at: new Date().toISOString() };
      this.server.metrics.pushed(typeUrl, r.resources, r.removals, r.response.encoded!.length);
      return;
    }
    if (ts.dirty.size) {
      const changed = [...ts.dirty];
      ts.dirty.clear();
      this.send(typeUrl, ts, changedDelta(ts.sub, this.server.store.all(typeUrl), changed, this.visible), false);
    }
  }

  private send(
    typeUrl: string,
    ts: TypeState,
    delta: Delta,
    always: boolean,
    shared?: SharedEncodings,
    sharedKey?: string,
    whole = false,
  ): void {
    if (this.closed || (!always && delta.upserts.length === 0 && delta.removals.length === 0)) return;
    let responses: EncodedResponse[];
    if (shared) {
      // Clients sent the same delta in the same flush share one encoding (and its nonce:
      // nonces only need to be unique within a stream).
      const key = sharedKey ?? deltaKey(delta);
      let hit = shared.map.get(key);
      if (!hit) {
        hit = this.server.encodeDelta(typeUrl, delta, () => `${shared.noncePrefix}-${shared.map.size}-${++shared.seq}`, whole);
        shared.map.set(key, hit);
      }
      responses = hit;
    } else {
      responses = this.server.encodeDelta(typeUrl, delta, () => `${this.noncePrefix}-${++this.nonceSeq}`, whole);
    }
    // Recorded as sent now: the queue is written in order, and a NACK does not roll back anyway.
    recordSent(ts.sub, delta);
    ts.queue.push(...responses);
    this.pump(typeUrl, ts);
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
  readonly waypoints: WaypointDirectory | undefined;
  /** Incremented on every flush; sent as system_version_info (debugging only). */
  generation = 0;
  private readonly conns = new Set<AdsConnection>();
  private readonly debounceMs: number;
  private timer: NodeJS.Timeout | undefined;
  private seq = 0;
  private readonly noncePrefix = randomBytes(4).toString("hex");
  private readonly fullPush = new Map<string, { revision: number; shared: SharedEncodings }>();
  private readonly maxInitialPushes: number;
  private slotsInUse = 0;
  private readonly waiting: Array<{ conn: AdsConnection; typeUrl: string }> = [];

  constructor(private readonly opts: AdsServerOptions) {
    this.store = opts.store;
    this.metrics = opts.metrics ?? noXdsMetrics;
    this.debounceMs = opts.debounceMs ?? 50;
    this.maxResponseBytes = opts.maxResponseBytes ?? 4 * 1024 * 1024;
    this.maxInitialPushes = opts.maxConcurrentInitialPushes ?? 16;
    this.waypoints = opts.waypoints;
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
        conn.releaseSlots();
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

  /** Splits `delta` into responses below maxResponseBytes (removals in the last) and encodes them. */
  encodeDelta(typeUrl: string, delta: Delta, nonce: () => string, whole = false): EncodedResponse[] {
    const chunks: StoreEntry[][] = [[]];
    let size = 0;
    for (const e of delta.upserts) {
      if (!whole && size + e.resourceField.length > this.maxResponseBytes && chunks[chunks.length - 1]!.length > 0) {
        chunks.push([]);
        size = 0;
      }
      chunks[chunks.length - 1]!.push(e);
      size += e.resourceField.length;
    }
    return chunks.map((chunk, i) => {
      const removed = i === chunks.length - 1 ? delta.removals : [];
      const base = {
        typeUrl,
        nonce: nonce(),
        systemVersionInfo: String(this.generation),
        removed,
        resourceFields: chunk.map((e) => e.resourceField),
      };
      return {
        nonce: base.nonce,
        names: [...chunk.map((e) => e.name), ...removed],
        resources: chunk.length,
        removals: removed.length,
        response: { ...base, resourceFields: [], encoded: encodeDeltaResponse(base) },
      };
    });
  }

  /** Takes an initial-push slot, or queues `conn` to be called back with slotGranted. */
  acquireSlot(conn: AdsConnection, typeUrl: string): boolean {
    if (this.slotsInUse < this.maxInitialPushes) {
      this.slotsInUse++;
      return true;
    }
    this.waiting.push({ conn, typeUrl });
    return false;
  }

  releaseSlot(): void {
    this.slotsInUse--;
    while (this.waiting.length && this.slotsInUse < this.maxInitialPushes) {
      const next = this.waiting.shift()!;
      if (next.conn.closed) continue;
      this.slotsInUse++;
      next.conn.slotGranted(next.typeUrl);
    }
  }

  /** The shared encodings of a full push of `typeUrl` at the store's current revision. */
  fullPushEncodings(typeUrl: string): SharedEncodings {
    const rev = this.store.revision(typeUrl);
    const cached = this.fullPush.get(typeUrl);
    if (cached && cached.revision === rev) return cached.shared;
    const shared: SharedEncodings = { noncePrefix: `${this.noncePrefix}-full-${rev}`, map: new Map(), seq: 0 };
    this.fullPush.set(typeUrl, { revision: rev, shared });
    return shared;
  }

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
    const shared = new Map<string, SharedEncodings>();
    for (const typeUrl of changes.keys())
      shared.set(typeUrl, { noncePrefix: `${this.noncePrefix}-g${this.generation}-${shared.size}`, map: new Map(), seq: 0 });
    for (const conn of this.conns) {
      for (const [typeUrl, names] of changes) {
        try {
          conn.push(typeUrl, names, shared.get(typeUrl)!);
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
