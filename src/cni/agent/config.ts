/**
 * `weft cni-agent` flags: the only reader of the node agent's flags and environment, defaults
 * beside each name; validated and frozen once.
 */
import { isIPv4, isIPv6 } from "node:net";
import * as path from "node:path";
import { parseArgs } from "node:util";
import { type Result, ok, err } from "../../common/result.js";
import { type FlagSpec, parseArgsOptions, shortParseError } from "../../common/flags.js";
import type { BackendKind } from "../../capture/index.js";

export interface AgentConfig {
  readonly node: string;
  /** Unix socket the CNI plugin posts to. */
  readonly socket: string;
  readonly backend: BackendKind;
  readonly configDir?: string;
  readonly kubeconfig?: string;
  /** Sandboxes persisted across restarts; default <socket dir>/agent-state.json. */
  readonly stateFile: string;
  /** BPF pin folder name under pinRoot; default the node name. */
  readonly instance: string;
  /** default /sys/fs/bpf/weft. */
  readonly pinRoot: string;
  /** Where the node's /proc/sys is writable (capture/sysctl.ts); absent: the sysctl tool. */
  readonly procSysDir?: string;
  /** Remove all captures when stopped (local cluster teardown); default false. */
  readonly teardownOnExit: boolean;
  /** DNS capture to ztunnel's DNS proxy on this port (Istio ambient's DNS capture); off when absent. */
  readonly dnsPort?: number;
  /** eBPF DNS capture: the node address ztunnel's DNS socket receives on. */
  readonly dnsAddress?: string;
  /** The IPv6 DNS capture address (second element of --dns-capture-address). */
  readonly dnsAddress6?: string;
  /**
   * Kubernetes node mode: install the plugin and chain it into the primary network configuration
   * of these host directories (mounted at the same paths), src/capture/chain-install.ts.
   */
  readonly chain?: { readonly confDir: string; readonly binDir: string; readonly hostDir: string };
  /** GET /ready (200 once capture is set up and the plugin chained) and /healthz on this address. */
  readonly health?: { readonly host: string; readonly port: number };
  /** `namespace/name` of the agent's DaemonSet: on stop, its absence or deletion means uninstall. */
  readonly daemonSet?: { readonly namespace: string; readonly name: string };
}

export const DEFAULT_BACKEND: BackendKind = "ebpf";
export const DEFAULT_PIN_ROOT = "/sys/fs/bpf/weft";
export const defaultSocket = (node: string): string => `/run/weft/${node}/cni.sock`;

/** Every flag of `weft cni-agent`; its `--help` is made from this table. */
export const AGENT_FLAGS: readonly FlagSpec[] = [
  { name: "node", arg: "NAME", env: "NODE_NAME", description: "this node's name (required)" },
  {
    name: "socket",
    arg: "PATH",
    env: "WEFT_CNI_SOCKET",
    default: defaultSocket("<node>"),
    description: "unix socket the CNI plugin posts to",
  },
  { name: "backend", arg: "ebpf|nftables", env: "WEFT_CAPTURE_BACKEND", default: DEFAULT_BACKEND, description: "redirection backend" },
  { name: "config-dir", arg: "DIR", env: "WEFT_CONFIG_DIR", description: "folder of Pod and Namespace YAML (local mode)" },
  { name: "kubeconfig", arg: "FILE", env: "KUBECONFIG", description: "Kubernetes mode: kubeconfig file, or in-cluster" },
  {
    name: "state-file",
    arg: "FILE",
    env: "WEFT_CNI_STATE",
    default: "<socket dir>/agent-state.json",
    description: "sandboxes kept across restarts",
  },
  { name: "instance", arg: "NAME", env: "WEFT_CAPTURE_INSTANCE", default: "<node>", description: "BPF pin folder name under the pin root" },
  { name: "pin-root", arg: "DIR", env: "WEFT_PIN_ROOT", default: DEFAULT_PIN_ROOT, description: "BPF filesystem folder for pins" },
  {
    name: "proc-sys-dir",
    arg: "DIR",
    env: "WEFT_PROC_SYS_DIR",
    description:
      "write the node's sysctls under DIR instead of with sysctl (a container's /proc/sys is read-only; Kubernetes: /host/proc/sys)",
  },
  { name: "teardown-on-exit", description: "remove every capture when stopped (local cluster teardown)" },
  {
    name: "dns-capture-port",
    arg: "PORT",
    env: "WEFT_DNS_CAPTURE_PORT",
    description: "redirect enrolled pods' UDP port 53 to ztunnel's DNS proxy on this port (15053; ztunnel --dns-proxy true)",
  },
  {
    name: "dns-capture-address",
    arg: "IP[,IPv6]",
    env: "WEFT_DNS_CAPTURE_ADDRESS",
    description:
      "eBPF DNS capture: a local IPv4 address of the node where ztunnel's DNS port receives, and optionally an IPv6 one for IPv6 queries",
  },
  {
    name: "cni-conf-dir",
    arg: "DIR",
    env: "WEFT_CNI_CONF_DIR",
    description: "chain the plugin into this host CNI conf dir's primary network (Kubernetes)",
  },
  {
    name: "cni-bin-dir",
    arg: "DIR",
    env: "WEFT_CNI_BIN_DIR",
    default: "/opt/cni/bin",
    description: "host CNI plugin dir the weft-cni wrapper goes into",
  },
  {
    name: "host-runtime-dir",
    arg: "DIR",
    env: "WEFT_HOST_RUNTIME_DIR",
    default: "/opt/weft/cni",
    description: "host dir the plugin's Node runtime and modules are copied to (not the image's own /opt/weft)",
  },
  { name: "health", arg: "HOST:PORT", env: "WEFT_CNI_HEALTH", description: "serve GET /ready and /healthz here" },
  {
    name: "daemonset",
    arg: "NS/NAME",
    env: "WEFT_CNI_DAEMONSET",
    description: "this agent's DaemonSet: when it is gone or deleted at stop, remove the chained plugin (uninstall)",
  },
];

export function loadAgentConfig(argv: readonly string[], env: NodeJS.ProcessEnv): Result<AgentConfig> {
  let v: Record<string, string | boolean | undefined>;
  try {
    v = parseArgs({ args: [...argv], options: parseArgsOptions(AGENT_FLAGS), strict: true }).values as Record<
      string,
      string | boolean | undefined
    >;
  } catch (e) {
    return err(new Error(`cni-agent: ${shortParseError(e)}`));
  }
  const s = (k: string): string | undefined => v[k] as string | undefined;
  const node = s("node") ?? env.NODE_NAME;
  if (!node) return err(new Error("cni-agent: --node NAME is required"));
  const backend = s("backend") ?? env.WEFT_CAPTURE_BACKEND ?? DEFAULT_BACKEND;
  if (backend !== "ebpf" && backend !== "nftables")
    return err(new Error(`cni-agent: --backend: ${JSON.stringify(backend)} is not ebpf or nftables`));
  const configDir = s("config-dir") ?? env.WEFT_CONFIG_DIR;
  const kubeconfig = s("kubeconfig") ?? (configDir ? undefined : env.KUBECONFIG);
  if (!configDir && !kubeconfig) return err(new Error("cni-agent: a config source is required: --config-dir DIR or --kubeconfig FILE"));
  if (configDir && kubeconfig) return err(new Error("cni-agent: --config-dir and --kubeconfig are exclusive"));
  const socket = s("socket") ?? env.WEFT_CNI_SOCKET ?? defaultSocket(node);
  if (!path.isAbsolute(socket)) return err(new Error(`cni-agent: --socket: ${socket} must be an absolute path`));
  const dnsText = s("dns-capture-port") ?? env.WEFT_DNS_CAPTURE_PORT;
  const dnsPort = dnsText === undefined ? undefined : Number(dnsText);
  if (dnsPort !== undefined && (!Number.isInteger(dnsPort) || dnsPort < 1 || dnsPort > 65535))
    return err(new Error(`cni-agent: --dns-capture-port: ${JSON.stringify(dnsText)} is not a port`));
  const dnsAddrs = parseDnsAddresses(s("dns-capture-address") ?? env.WEFT_DNS_CAPTURE_ADDRESS);
  if (!dnsAddrs.ok) return dnsAddrs;
  const confDir = s("cni-conf-dir") ?? env.WEFT_CNI_CONF_DIR;
  const binDir = s("cni-bin-dir") ?? env.WEFT_CNI_BIN_DIR ?? "/opt/cni/bin";
  const hostDir = s("host-runtime-dir") ?? env.WEFT_HOST_RUNTIME_DIR ?? "/opt/weft/cni";
  for (const [flag, dir] of [
    ["cni-conf-dir", confDir],
    ["cni-bin-dir", binDir],
    ["host-runtime-dir", hostDir],
  ] as const)
    if (dir !== undefined && !path.isAbsolute(dir)) return err(new Error(`cni-agent: --${flag}: ${dir} must be an absolute path`));
  const healthText = s("health") ?? env.WEFT_CNI_HEALTH;
  let health: { host: string; port: number } | undefined;
  if (healthText !== undefined) {
    const i = healthText.lastIndexOf(":");
    const port = Number(healthText.slice(i + 1));
    if (i <= 0 || !Number.isInteger(port) || port < 1 || port > 65535)
      return err(new Error(`cni-agent: --health: ${JSON.stringify(healthText)} is not HOST:PORT`));
    health = { host: healthText.slice(0, i), port };
  }
  const dsText = s("daemonset") ?? env.WEFT_CNI_DAEMONSET;
  const ds = dsText?.split("/");
  if (dsText !== undefined && (ds?.length !== 2 || !ds[0] || !ds[1]))
    return err(new Error(`cni-agent: --daemonset: ${JSON.stringify(dsText)} is not NAMESPACE/NAME`));
  if (dsText !== undefined && !kubeconfig) return err(new Error("cni-agent: --daemonset needs --kubeconfig (it asks the API server)"));
  return ok(
    Object.freeze({
      node,
      socket,
      ...(confDir ? { chain: { confDir, binDir, hostDir } } : {}),
      ...(health ? { health } : {}),
      ...(ds && dsText !== undefined ? { daemonSet: { namespace: ds[0]!, name: ds[1]! } } : {}),
      backend,
      ...(configDir ? { configDir } : {}),
      ...(kubeconfig ? { kubeconfig } : {}),
      stateFile: s("state-file") ?? env.WEFT_CNI_STATE ?? path.join(path.dirname(socket), "agent-state.json"),
      instance: s("instance") ?? env.WEFT_CAPTURE_INSTANCE ?? node,
      pinRoot: s("pin-root") ?? env.WEFT_PIN_ROOT ?? DEFAULT_PIN_ROOT,
      ...((s("proc-sys-dir") ?? env.WEFT_PROC_SYS_DIR) ? { procSysDir: s("proc-sys-dir") ?? env.WEFT_PROC_SYS_DIR } : {}),
      teardownOnExit: v["teardown-on-exit"] === true,
      ...(dnsPort !== undefined ? { dnsPort } : {}),
      ...dnsAddrs.value,
    }),
  );
}

/** `--dns-capture-address IPv4[,IPv6]`: at most one address per family, in either order. */
export function parseDnsAddresses(text: string | undefined): Result<{ dnsAddress?: string; dnsAddress6?: string }> {
  if (text === undefined || text === "") return ok({});
  const out: { dnsAddress?: string; dnsAddress6?: string } = {};
  for (const a of text.split(",").map((x) => x.trim())) {
    const key = isIPv4(a) ? "dnsAddress" : isIPv6(a) ? "dnsAddress6" : undefined;
    if (!key) return err(new Error(`cni-agent: --dns-capture-address: ${JSON.stringify(a)} is not an IP address`));
    if (out[key] !== undefined)
      return err(new Error(`cni-agent: --dns-capture-address: two ${key === "dnsAddress" ? "IPv4" : "IPv6"} addresses`));
    out[key] = a;
  }
  return ok(out);
}
