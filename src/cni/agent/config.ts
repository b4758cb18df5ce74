/**
 * `weft cni-agent` flags: the only reader of the node agent's flags and environment, defaults
 * beside each name; validated and frozen once.
 */
import * as path from "node:path";
import { parseArgs } from "node:util";
import { type Result, ok, err } from "../../common/result.js";
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
}

const FLAGS = {
  node: { type: "string" }, // NODE_NAME (required)
  socket: { type: "string" }, // WEFT_CNI_SOCKET, default /run/weft/<node>/cni.sock
  backend: { type: "string" }, // WEFT_CAPTURE_BACKEND, default ebpf
  "config-dir": { type: "string" }, // WEFT_CONFIG_DIR
  kubeconfig: { type: "string" }, // KUBECONFIG
  "state-file": { type: "string" }, // WEFT_CNI_STATE
  instance: { type: "string" }, // WEFT_CAPTURE_INSTANCE, default <node>
  "pin-root": { type: "string" }, // WEFT_PIN_ROOT, default /sys/fs/bpf/weft
  "teardown-on-exit": { type: "boolean" },
} as const;

export function loadAgentConfig(argv: readonly string[], env: NodeJS.ProcessEnv): Result<AgentConfig> {
  let v: Record<string, string | boolean | undefined>;
  try {
    v = parseArgs({ args: [...argv], options: FLAGS, strict: true }).values;
  } catch (e) {
    return err(new Error(`cni-agent: ${(e as Error).message}`));
  }
  const s = (k: string): string | undefined => v[k] as string | undefined;
  const node = s("node") ?? env.NODE_NAME;
  if (!node) return err(new Error("cni-agent: --node NAME is required"));
  const backend = s("backend") ?? env.WEFT_CAPTURE_BACKEND ?? "ebpf";
  if (backend !== "ebpf" && backend !== "nftables")
    return err(new Error(`cni-agent: --backend: ${JSON.stringify(backend)} is not ebpf or nftables`));
  const configDir = s("config-dir") ?? env.WEFT_CONFIG_DIR;
  const kubeconfig = s("kubeconfig") ?? (configDir ? undefined : env.KUBECONFIG);
  if (!configDir && !kubeconfig) return err(new Error("cni-agent: a config source is required: --config-dir DIR or --kubeconfig FILE"));
  if (configDir && kubeconfig) return err(new Error("cni-agent: --config-dir and --kubeconfig are exclusive"));
  const socket = s("socket") ?? env.WEFT_CNI_SOCKET ?? `/run/weft/${node}/cni.sock`;
  if (!path.isAbsolute(socket)) return err(new Error(`cni-agent: --socket: ${socket} must be an absolute path`));
  return ok(
    Object.freeze({
      node,
      socket,
      backend,
      ...(configDir ? { configDir } : {}),
      ...(kubeconfig ? { kubeconfig } : {}),
      stateFile: s("state-file") ?? env.WEFT_CNI_STATE ?? path.join(path.dirname(socket), "agent-state.json"),
      instance: s("instance") ?? env.WEFT_CAPTURE_INSTANCE ?? node,
      pinRoot: s("pin-root") ?? env.WEFT_PIN_ROOT ?? "/sys/fs/bpf/weft",
      teardownOnExit: v["teardown-on-exit"] === true,
    }),
  );
}
