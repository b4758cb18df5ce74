/**
 * Builds a waypoint's runtime from its config: certificates from the control plane's CA (its
 * own identity only) or a local CA directory; Address (always) and Envoy resources (unless a
 * static file gives them) over delta xDS with the node id and metadata Istio's waypoints send.
 * The one place that chooses between control-plane and static mode.
 */
import { readFileSync } from "node:fs";
import { type Result, ok, err } from "../common/result.js";
import { logger } from "../common/log.js";
import { splitCertificates } from "../common/tls/pem.js";
import { CertificateAuthority } from "../ca/ca.js";
import { formatNodeId } from "../common/xds/node-id.js";
import { LocalCaClient, type CaClient } from "../proxy/identity/ca-client.js";
import { GrpcCaClient } from "../proxy/identity/grpc-ca-client.js";
import type { ControlPlaneTarget } from "../proxy/xds/channel.js";
import { XdsClient } from "../proxy/xds/client.js";
import { addressSubscription } from "../proxy/xds/subscription.js";
import type { WaypointConfig } from "./config.js";
import { Waypoint, type WaypointRuntime } from "./waypoint.js";

const log = logger("waypoint.bootstrap");

export interface RunningWaypoint {
  readonly waypoint: Waypoint;
  stop(): Promise<void>;
}

/** `router~<pod-ip>~<pod>.<ns>~<ns>.svc.cluster.local` and `WAYPOINT: <ns>/<gateway>` (docs/waypoint.md). */
export function waypointNode(c: WaypointConfig): { id: string; metadata: Record<string, string> } {
  return {
    id: formatNodeId({ type: "router", ip: c.podIp ?? "0.0.0.0", pod: c.podName, namespace: c.namespace }),
    metadata: {
      WAYPOINT: `${c.namespace}/${c.name}`,
      NAMESPACE: c.namespace,
      SERVICE_ACCOUNT: c.serviceAccount,
      CLUSTER_ID: c.clusterId,
      ...(c.node ? { NODE_NAME: c.node } : {}),
      ...(c.podIp ? { INSTANCE_IPS: c.podIp } : {}),
    },
  };
}

export async function startWaypoint(config: WaypointConfig, overrides: Partial<WaypointRuntime> = {}): Promise<Result<RunningWaypoint>> {
  const closers: Array<() => void> = [];
  let caClient: CaClient;
  let rootsPem: readonly string[];
  let target: ControlPlaneTarget | undefined;
  if (config.xdsAddress) {
    let text: string;
    try {
      text = readFileSync(config.rootCertFile!, "utf8");
    } catch (e) {
      return err(new Error(`waypoint: root cert ${config.rootCertFile}: ${(e as Error).message}`));
    }
    const roots = splitCertificates(text, `waypoint: root cert ${config.rootCertFile}`);
    if (!roots.ok) return roots;
    const tokenFile = config.tokenFile!;
    target = {
      address: config.xdsAddress,
      rootsPem: roots.value,
      expectedSan: config.controlPlaneSan,
      token: () => readFileSync(tokenFile, "utf8").trim(),
    };
    rootsPem = roots.value;
    const grpcCa = new GrpcCaClient({ target, clusterId: config.clusterId });
    closers.push(() => grpcCa.close());
    caClient = grpcCa;
  } else {
    const ca = await CertificateAuthority.loadCacerts(config.caDir!, { trustDomain: config.trustDomain });
    if (!ca.ok)
      return err(
        new Error(`waypoint: local CA ${config.caDir}: ${ca.error.message} (create one with: weft ca init --dir ${config.caDir})`),
      );
    const local = new LocalCaClient(ca.value);
    caClient = local;
    rootsPem = local.rootsPem;
  }
  const wp = new Waypoint(config, { caClient, rootsPem, ...overrides });
  const started = await wp.start();
  if (!started.ok) {
    closers.forEach((c) => c());
    return started;
  }
  if (target) {
    const node = waypointNode(config);
    const xds = new XdsClient({
      target,
      nodeId: node.id,
      nodeMetadata: node.metadata,
      subscriptions: [addressSubscription(wp.mutator), ...(config.static ? [] : wp.l7.subscriptions())],
      logComponent: "waypoint.xds",
    });
    xds.start();
    closers.push(() => xds.close());
    void xds.synced().then(() => {
      log.info({ workloads: wp.state._workloads.size, version: wp.l7.version }, "initial configuration received from the control plane");
      wp.configSynced();
    });
    wp.addDump("xds", () => xds.status());
  }
  return ok({
    waypoint: wp,
    stop: async () => {
      closers.forEach((c) => c());
      await wp.stop();
    },
  });
}
