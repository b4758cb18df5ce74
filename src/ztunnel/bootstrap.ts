/**
 * Builds a ztunnel's runtime from its config: where certificates come from (a local CA
 * directory, or the control plane's CA service) and where state comes from (the static file,
 * or delta xDS from the control plane), then starts it. The one place that chooses between
 * local and control-plane mode.
 */
import { readFileSync } from "node:fs";
import { type Result, ok, err } from "../common/result.js";
import { logger } from "../common/log.js";
import { splitCertificates } from "../common/tls/pem.js";
import { CertificateAuthority } from "../ca/ca.js";
import { formatNodeId } from "../common/xds/node-id.js";
import type { ZtunnelConfig } from "./config.js";
import { LocalCaClient, type CaClient } from "../proxy/identity/ca-client.js";
import { GrpcCaClient } from "../proxy/identity/grpc-ca-client.js";
import type { ControlPlaneTarget } from "../proxy/xds/channel.js";
import { XdsClient } from "../proxy/xds/client.js";
import { Ztunnel, type ZtunnelRuntime } from "./ztunnel.js";

const log = logger("ztunnel.bootstrap");

export interface RunningZtunnel {
  readonly ztunnel: Ztunnel;
  /** Stops the xDS client and CA client, then the ztunnel. */
  stop(): Promise<void>;
}

export async function startZtunnel(config: ZtunnelConfig, overrides: Partial<ZtunnelRuntime> = {}): Promise<Result<RunningZtunnel>> {
  let caClient: CaClient;
  let rootsPem: readonly string[];
  let target: ControlPlaneTarget | undefined;
  const closers: Array<() => void> = [];

  if (config.xdsAddress) {
    let text: string;
    try {
      text = readFileSync(config.rootCertFile!, "utf8");
    } catch (e) {
      return err(new Error(`ztunnel: root cert ${config.rootCertFile}: ${(e as Error).message}`));
    }
    const parsed = splitCertificates(text, `ztunnel: root cert ${config.rootCertFile}`);
    if (!parsed.ok) return parsed;
    const roots = parsed.value;
    const tokenFile = config.tokenFile!;
    target = {
      address: config.xdsAddress,
      rootsPem: roots,
      expectedSan: config.xdsSan,
      // Read per call: a rotated projected token is picked up without a restart.
      token: () => readFileSync(tokenFile, "utf8").trim(),
    };
    rootsPem = roots;
    if (config.caDir) {
      const ca = await localCa(config);
      if (!ca.ok) return ca;
      caClient = ca.value;
    } else {
      const grpcCa = new GrpcCaClient({ target, clusterId: config.clusterId });
      closers.push(() => grpcCa.close());
      caClient = grpcCa;
    }
  } else {
    const ca = await localCa(config);
    if (!ca.ok) return ca;
    caClient = ca.value;
    rootsPem = ca.value.rootsPem;
  }

  const zt = new Ztunnel(config, { caClient, rootsPem, ...overrides });
  const started = await zt.start();
  if (!started.ok) {
    closers.forEach((c) => c());
    return started;
  }
  if (target) {
    const xds = new XdsClient({
      target,
      nodeId: formatNodeId({ type: "ztunnel", ip: config.bindAddress, pod: `ztunnel-${config.node}`, namespace: "istio-system" }),
      nodeMetadata: { NODE_NAME: config.node, CLUSTER_ID: config.clusterId, NAMESPACE: "istio-system" },
      handler: zt.mutator,
      onTermination: (reason) => zt.metrics.xdsTerminated(reason),
    });
    zt.metrics.observe({ xdsConnected: () => xds.status().connected });
    xds.start();
    closers.push(() => xds.close());
    void xds.synced().then(() => {
      log.info(
        { workloads: zt.state._workloads.size, services: zt.state._services.size },
        "initial configuration received from the control plane",
      );
      zt.configSynced();
    });
    zt.addDump("xds", () => xds.status());
  }
  return ok({
    ztunnel: zt,
    stop: async () => {
      closers.forEach((c) => c());
      await zt.stop();
    },
  });
}

async function localCa(config: ZtunnelConfig): Promise<Result<LocalCaClient>> {
  if (!config.caDir) return err(new Error("ztunnel: no certificate source: give --ca-dir or --xds-address"));
  const ca = await CertificateAuthority.loadCacerts(config.caDir, { trustDomain: config.trustDomain });
  if (!ca.ok)
    return err(new Error(`ztunnel: local CA ${config.caDir}: ${ca.error.message} (create one with: weft ca init --dir ${config.caDir})`));
  return ok(new LocalCaClient(ca.value));
}
