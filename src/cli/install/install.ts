/**
 * `weft install` and `weft uninstall` (like `istioctl install` / `istioctl uninstall`): their
 * flags and help. The work is in run.ts, loaded only when one of them runs (it pulls in the
 * Kubernetes client, which every other weft command would otherwise pay for at start-up).
 */
import type { Command } from "commander";
import { Option } from "commander";
import { action, examples, subcommand } from "../command.js";
import { defaultManifestOptions } from "./manifests.js";
import type { InstallOpts, UninstallOpts } from "./run.js";
// Loads no client library (it does so lazily, on the first request).
import { DEFAULT_REQUEST_TIMEOUT_MS } from "../../kube/client/kube-request-timeout.js";

const DEFAULT_REQUEST_TIMEOUT = `${DEFAULT_REQUEST_TIMEOUT_MS / 1000}s`;

function targetOptions(cmd: Command): Command {
  return cmd
    .option("--kubeconfig <file>", "kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)")
    .option("--context <name>", "kubeconfig context (default: its current-context)")
    .option(
      "--request-timeout <duration>",
      "bound of each API request; one that times out is tried again (3 tries in all), a wait's check counts as failed",
      DEFAULT_REQUEST_TIMEOUT,
    );
}

function waitOptions(cmd: Command, what: string): Command {
  return cmd
    .addOption(new Option("--wait [bool]", `wait for ${what} (--wait=false: do not)`).default(true))
    .option("--timeout <duration>", "how long to wait, e.g. 300s, 5m", "5m");
}

export function registerInstall(program: Command): void {
  const d = defaultManifestOptions();
  const cmd = subcommand(program, "install", "install weft into the cluster of a kubeconfig (like istioctl install)")
    .option("-n, --namespace <ns>", "namespace of weft's components, also the mesh root namespace", d.namespace)
    .option("--image <ref>", "container image of every component", d.image)
    .addOption(
      new Option("--capture-backend <kind>", "the CNI node agent's redirection backend")
        .choices(["ebpf", "nftables"])
        .default(d.captureBackend),
    )
    .option("--cni-conf-dir <dir>", "the nodes' CNI config dir (the container runtime's)", d.cniConfDir)
    .option("--cni-bin-dir <dir>", "the nodes' CNI plugin dir", d.cniBinDir)
    .option("--trust-domain <td>", "mesh trust domain", d.trustDomain)
    .option("--mesh-config <file>", "MeshConfig YAML for the ConfigMap istio (key mesh), checked first; default: tracing on, no providers")
    .addOption(new Option("--crds <mode>", "auto: create the CRDs the cluster lacks; skip: none").choices(["auto", "skip"]).default("auto"))
    .option("--dry-run", "print the manifests instead of applying them");
  targetOptions(cmd);
  waitOptions(cmd, "the control plane and node agents to be ready");
  examples(cmd, [
    "weft install",
    "weft install --context kind-mesh --image registry.example/weft:0.1.0",
    "weft install --dry-run > weft.yaml",
    "weft install --mesh-config mesh.yaml",
    "weft install --wait=false",
  ]);
  action(cmd, async (o: InstallOpts) => (await import("./run.js")).runInstall(o));
}

export function registerUninstall(program: Command): void {
  const d = defaultManifestOptions();
  const un = subcommand(program, "uninstall", "remove everything weft install created (CRDs only with --purge)")
    .option("-n, --namespace <ns>", "namespace weft was installed into", d.namespace)
    .option("--purge", "also delete the CRDs weft created (their objects go with them)");
  targetOptions(un);
  waitOptions(un, "the node agents to remove their CNI config and every object to be gone");
  examples(un, ["weft uninstall", "weft uninstall --purge --context kind-mesh"]);
  action(un, async (o: UninstallOpts) => (await import("./run.js")).runUninstall(o));
}
