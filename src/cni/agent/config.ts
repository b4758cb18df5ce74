/**
 * `weft cni-agent` flags: the only reader of the node agent's flags and environment, defaults
 * beside each name; validated and frozen once.
 */
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
  /** Remove all captures when stopped (local cluster teardown); default false. */
  readonly teardownOnExit: boolean;
  /** DNS capture to ztunnel's DNS proxy on this port (Istio ambient's DNS capture); off when absent. */
  readonly dnsPort?: number;
  /** eBPF DNS capture: the node address ztunnel's DNS socket receives on. */
  readonly dnsAddress?: string;
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
  { name: "teardown-on-exit", description: "remove every capture when stopped (local cluster teardown)" },
  {
    name: "dns-capture-port",
    arg: "PORT",
    env: "WEFT_DNS_CAPTURE_PORT",
    description: "redirect enrolled pods' UDP port 53 to ztunnel's DNS proxy on this port (15053; ztunnel --dns-proxy true)",
  },
  {
    name: "dns-capture-address",
    arg: "IP",
    env: "WEFT_DNS_CAPTURE_ADDRESS",
    description: "eBPF DNS capture: a local IPv4 address of the node where ztunnel's DNS port receives",
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
  return ok(
    Object.freeze({
      node,
      socket,
      backend,
      ...(configDir ? { configDir } : {}),
      ...(kubeconfig ? { kubeconfig } : {}),
      stateFile: s("state-file") ?? env.WEFT_CNI_STATE ?? path.join(path.dirname(socket), "agent-state.json"),
      instance: s("instance") ?? env.WEFT_CAPTURE_INSTANCE ?? node,
      pinRoot: s("pin-root") ?? env.WEFT_PIN_ROOT ?? DEFAULT_PIN_ROOT,
      teardownOnExit: v["teardown-on-exit"] === true,
      ...(dnsPort !== undefined ? { dnsPort } : {}),
      ...((s("dns-capture-address") ?? env.WEFT_DNS_CAPTURE_ADDRESS)
        ? { dnsAddress: s("dns-capture-address") ?? env.WEFT_DNS_CAPTURE_ADDRESS }
        : {}),
    }),
  );
}
