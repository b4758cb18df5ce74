/**
 * `weft cni-agent`: runs the node agent in the current network namespace (the node's) until
 * SIGTERM/SIGINT. See agent.ts and docs/cni.md.
 */
import { logger } from "../common/log.js";
import { FileSource } from "../kube/folder/file-source.js";
import { KubeSource } from "../kube/client/kube-source.js";
import { builtinKinds } from "../kube/client/kube-kinds.js";
import { inClusterConfig, loadKubeconfig } from "../kube/client/kube-config.js";
import { objectValidator } from "../kube/validate/validate.js";
import type { ConfigSource } from "../kube/source.js";
import { createRedirectBackend } from "../capture/index.js";
import { NodeAgent } from "../cni/agent/agent.js";
import type { Command } from "commander";
import { AGENT_FLAGS, loadAgentConfig } from "../cni/agent/config.js";
import { EXIT_FAILED, EXIT_USAGE, componentCommand, componentError } from "./command.js";

const log = logger("cli.cni-agent");

export function registerCniAgent(program: Command): void {
  componentCommand(
    program,
    {
      name: "cni-agent",
      summary: "run a node's CNI agent (enrolls pods into capture by their labels)",
      flags: AGENT_FLAGS,
      examples: [
        "weft cni-agent --node node-0 --config-dir ./mesh --backend nftables",
        "weft cni-agent --node $NODE_NAME --kubeconfig in-cluster",
      ],
    },
    runCniAgent,
  );
}

async function runCniAgent(cmd: Command, argv: string[]): Promise<number> {
  const fail = (message: string, code: number): number => {
    process.stderr.write(componentError(cmd, message));
    return code;
  };
  const cfg = loadAgentConfig(argv, process.env);
  if (!cfg.ok) return fail(cfg.error.message, EXIT_USAGE);
  const c = cfg.value;
  log.info({ config: c }, "cni-agent config");
  const backend = createRedirectBackend(c.backend, {
    instance: c.instance,
    pinRoot: c.pinRoot,
    ...(c.dnsPort !== undefined ? { dns: { port: c.dnsPort, ...(c.dnsAddress ? { address: c.dnsAddress } : {}) } } : {}),
  });
  if (!backend.ok) return fail(backend.error.message, EXIT_USAGE);
  let source: ConfigSource;
  if (c.configDir) {
    source = new FileSource({ dir: c.configDir, rescanMs: 1000, name: `cni-agent:${c.configDir}` });
  } else {
    const kc = c.kubeconfig === "in-cluster" ? inClusterConfig() : loadKubeconfig(c.kubeconfig!);
    if (!kc.ok) return fail(`kubeconfig ${c.kubeconfig}: ${kc.error.message}`, EXIT_USAGE);
    const kinds = builtinKinds.filter((k) => k.group === "" && (k.kind === "Pod" || k.kind === "Namespace"));
    source = new KubeSource({ config: kc.value, kinds, validate: objectValidator({ strict: false }), name: "cni-agent:kubernetes" });
  }
  const agent = new NodeAgent({ node: c.node, socketPath: c.socket, stateFile: c.stateFile, backend: backend.value, source });
  const started = await agent.start();
  if (!started.ok) {
    await agent.stop().catch(() => undefined);
    return fail(started.error.message, EXIT_FAILED);
  }
  await new Promise<void>((resolve) => {
    const stop = (signal: string): void => {
      log.info({ signal, teardown: c.teardownOnExit }, "shutdown requested");
      void agent.stop({ teardown: c.teardownOnExit }).then(resolve);
    };
    process.once("SIGTERM", () => stop("SIGTERM"));
    process.once("SIGINT", () => stop("SIGINT"));
  });
  return 0;
}
