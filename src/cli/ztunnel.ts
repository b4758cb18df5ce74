/**
 * `weft ztunnel`: runs a node's ztunnel until SIGTERM/SIGINT (or POST /quitquitquit), then
 * drains. Certificates come from a local CA directory (`--ca-dir`, created by `weft ca init`)
 * or from the control plane's CA service.
 */
import { CertificateAuthority } from "../controlplane/ca/ca.js";
import { LocalCaClient } from "../ztunnel/identity/ca-client.js";
import { loadZtunnelConfig } from "../ztunnel/config.js";
import { Ztunnel } from "../ztunnel/ztunnel.js";
import { logger } from "../common/log.js";

const log = logger("cli.ztunnel");

export async function runZtunnel(argv: string[]): Promise<number> {
  const cfg = loadZtunnelConfig(argv, process.env);
  if (!cfg.ok) {
    console.error(cfg.error.message);
    return 2;
  }
  const config = cfg.value;
  log.info({ config: { ...config, static: config.static ? { workloads: config.static.workloads.length, services: config.static.services.length } : undefined } }, "configuration");
  if (!config.caDir) {
    console.error("ztunnel: the control-plane CA client is wired by `weft ztunnel --xds-address` once the control plane is available; use --ca-dir for now");
    return 2;
  }
  const ca = await CertificateAuthority.loadCacerts(config.caDir, { trustDomain: config.trustDomain });
  if (!ca.ok) {
    console.error(`ztunnel: local CA ${config.caDir}: ${ca.error.message} (create one with: weft ca init --dir ${config.caDir})`);
    return 2;
  }
  const client = new LocalCaClient(ca.value);
  const zt = new Ztunnel(config, { caClient: client, rootsPem: client.rootsPem });
  const started = await zt.start();
  if (!started.ok) {
    console.error(started.error.message);
    await zt.stop();
    return 1;
  }
  const stop = (signal: string) => {
    log.info({ signal }, "shutdown requested");
    void zt.stop();
  };
  process.once("SIGTERM", () => stop("SIGTERM"));
  process.once("SIGINT", () => stop("SIGINT"));
  await zt.stopped;
  return 0;
}
