/**
 * The data plane's delta xDS client: one ADS stream to the control plane, a wildcard
 * subscription per type (ztunnel: Address and Authorization; the waypoint adds Envoy's Listener,
 * RouteConfiguration, Cluster and ClusterLoadAssignment), every resource decoded and validated
 * at this edge and handed to that type's mutator, ACK or NACK per response (apply-response.ts).
 *
 * Resilience: when the stream fails or the control plane goes away, the state applied so far
 * stays in force (nothing is cleared), and the client reconnects with exponential backoff and
 * jitter; the new stream's first request per type carries initial_resource_versions (what was
 * applied), so the control plane sends only what changed meanwhile, including removals.
 * `synced()` resolves once the first response of every type was applied (readiness).
 */
import { Client, type ClientDuplexStream, type ServiceError } from "@grpc/grpc-js";
import { logger } from "../../common/log.js";
import { type DeltaRequest, type IncomingDeltaResponse, deltaAdsClientMethod } from "../../common/xds/delta-wire.js";
import { ADDRESS_TYPE_URL, AUTHORIZATION_TYPE_URL } from "../../common/xds/proto.js";
import { applyDelta, nackDetail } from "./apply-response.js";
import { type BackoffPolicy, DEFAULT_BACKOFF, backoffDelayMs } from "./backoff.js";
import { type ControlPlaneTarget, authMetadata, channelOptions, controlPlaneCredentials } from "./channel.js";
import type { XdsHandler } from "./handler.js";
import { type XdsSubscription, ztunnelSubscriptions } from "./subscription.js";

const defaultLog = logger("ztunnel.xds");

export const ZTUNNEL_TYPE_URLS = [ADDRESS_TYPE_URL, AUTHORIZATION_TYPE_URL] as const;

export interface XdsClientOptions {
  readonly target: ControlPlaneTarget;
  /** `ztunnel~<ip>~<pod>.<ns>~<ns>.svc.cluster.local` (see controlplane/xds/node-id.ts). */
  readonly nodeId: string;
  /** Sent as node.metadata (e.g. NAMESPACE, NODE_NAME, CLUSTER_ID as ztunnel does). */
  readonly nodeMetadata?: Readonly<Record<string, string>>;
  /** ztunnel's form: Address and Authorization applied through this handler. */
  readonly handler?: XdsHandler;
  /** Any set of types (the waypoint's); subscribed in this order. Takes precedence over `handler`. */
  readonly subscriptions?: readonly XdsSubscription[];
  readonly backoff?: BackoffPolicy;
  /** Log component (default "ztunnel.xds"). */
  readonly logComponent?: string;
  readonly random?: () => number;
  /** Called when a stream ends: `ConnectionError` before any response, `Error` after (upstream ztunnel's reasons). */
  readonly onTermination?: (reason: "ConnectionError" | "Error" | "Complete") => void;
}

export interface XdsClientStatus {
  readonly connected: boolean;
  readonly synced: boolean;
  readonly reconnects: number;
  readonly acks: number;
  readonly nacks: number;
  readonly known: Record<string, number>;
  readonly lastError?: string;
}

type Stream = ClientDuplexStream<DeltaRequest, IncomingDeltaResponse>;

export class XdsClient {
  private readonly client: Client;
  private stream: Stream | undefined;
  private readonly log: typeof defaultLog;
  private readonly subs: ReadonlyMap<string, XdsSubscription>;
  private readonly known: Map<string, Map<string, string>>;
  private readonly seen = new Set<string>();
  private attempt = 0;
  private reconnects = 0;
  private acks = 0;
  private nacks = 0;
  private lastError: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private connected = false;
  private syncedResolve!: () => void;
  private readonly syncedPromise = new Promise<void>((r) => (this.syncedResolve = r));
  private isSynced = false;

  constructor(private readonly opts: XdsClientOptions) {
    this.log = opts.logComponent ? logger(opts.logComponent) : defaultLog;
    const subs = opts.subscriptions ?? (opts.handler ? ztunnelSubscriptions(opts.handler) : []);
    if (subs.length === 0) throw new Error("xds client: subscriptions: at least one type is required");
    this.subs = new Map(subs.map((s) => [s.typeUrl, s]));
    this.known = new Map(subs.map((s) => [s.typeUrl, new Map()]));
    this.client = new Client(opts.target.address, controlPlaneCredentials(opts.target), channelOptions(opts.target));
  }

  start(): void {
    void this.connect();
  }

  /** Resolves when the first response of every subscribed type has been applied. */
  synced(): Promise<void> {
    return this.syncedPromise;
  }

  status(): XdsClientStatus {
    return {
      connected: this.connected,
      synced: this.isSynced,
      reconnects: this.reconnects,
      acks: this.acks,
      nacks: this.nacks,
      known: Object.fromEntries([...this.known].map(([t, m]) => [t, m.size])),
      ...(this.lastError ? { lastError: this.lastError } : {}),
    };
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.stream?.cancel();
    this.client.close();
  }

  private async connect(): Promise<void> {
    if (this.closed) return;
    let md;
    try {
      md = await authMetadata(this.opts.target);
    } catch (e) {
      this.retry(`token: ${(e as Error).message}`);
      return;
    }
    if (this.closed) return;
    const stream = this.client.makeBidiStreamRequest(
      deltaAdsClientMethod.path,
      deltaAdsClientMethod.requestSerialize,
      deltaAdsClientMethod.responseDeserialize,
      md,
    ) as Stream;
    this.stream = stream;
    let done = false;
    let answered = false;
    stream.once("data", () => (answered = true));
    const finish = (why: string, complete = false) => {
      if (done) return;
      done = true;
      this.opts.onTermination?.(complete ? "Complete" : answered ? "Error" : "ConnectionError");
      this.connected = false;
      if (this.stream === stream) this.stream = undefined;
      this.retry(why);
    };
    stream.on("data", (resp: IncomingDeltaResponse) => this.onResponse(stream, resp));
    stream.on("error", (e: ServiceError) => finish(e.details || e.message));
    stream.on("end", () => finish("stream ended by the control plane", true));
    for (const typeUrl of this.subs.keys()) {
      stream.write({
        node: { id: this.opts.nodeId, cluster: "", metadata: this.opts.nodeMetadata ?? {} },
        typeUrl,
        subscribe: ["*"],
        unsubscribe: [],
        initialVersions: Object.fromEntries(this.known.get(typeUrl)!),
        responseNonce: "",
      });
    }
  }

  private onResponse(stream: Stream, resp: IncomingDeltaResponse): void {
    this.connected = true;
    this.attempt = 0;
    const known = this.known.get(resp.typeUrl);
    const sub = this.subs.get(resp.typeUrl);
    let outcome;
    if (!known || !sub) {
      outcome = { errors: [{ resource: "*", field: "type_url", reason: `not subscribed to ${resp.typeUrl}` }], applied: 0, removed: 0 };
    } else {
      try {
        outcome = applyDelta(resp, sub, known);
      } catch (e) {
        // A throwing handler is a bug; NACK rather than kill the stream, and keep going.
        this.log.error({ err: e, typeUrl: resp.typeUrl }, "xds handler threw");
        outcome = { errors: [{ resource: "*", field: "(handler)", reason: (e as Error).message }], applied: 0, removed: 0 };
      }
    }
    const ack: DeltaRequest = {
      typeUrl: resp.typeUrl,
      subscribe: [],
      unsubscribe: [],
      initialVersions: {},
      responseNonce: resp.nonce,
      ...(outcome.errors.length ? { errorDetail: nackDetail(outcome.errors) } : {}),
    };
    if (outcome.errors.length) {
      this.nacks++;
      this.log.warn(
        { typeUrl: resp.typeUrl, nonce: resp.nonce, rejected: outcome.errors.slice(0, 20) },
        "rejected xds resources (NACK); keeping previous versions",
      );
    } else {
      this.acks++;
    }
    this.log.debug(
      { typeUrl: resp.typeUrl, applied: outcome.applied, removed: outcome.removed, nonce: resp.nonce },
      "xds response applied",
    );
    if (this.stream === stream) stream.write(ack);
    this.seen.add(resp.typeUrl);
    if (!this.isSynced && [...this.subs.keys()].every((t) => this.seen.has(t))) {
      this.isSynced = true;
      this.log.info({ known: this.status().known }, "xds initial sync complete");
      this.syncedResolve();
    }
  }

  private retry(why: string): void {
    if (this.closed) return;
    this.lastError = why;
    const delay = backoffDelayMs(this.attempt++, this.opts.backoff ?? DEFAULT_BACKOFF, (this.opts.random ?? Math.random)());
    this.reconnects++;
    this.log.warn({ reason: why, retryInMs: delay }, "xds stream lost; keeping current state and reconnecting");
    this.timer = setTimeout(() => void this.connect(), delay);
  }
}
