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
import http from "node:http";
import pkg from "../../package.json";
import { HostChain, isUninstall } from "../cni/agent/host-chain.js";
import { PLUGIN_TYPE } from "../capture/plugin-install.js";

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
        "weft cni-agent --node $NODE_NAME --kubeconfig in-cluster --cni-conf-dir /etc/cni/net.d --health 127.0.0.1:15022 --daemonset istio-system/weft-cni",
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
    ...(c.procSysDir !== undefined ? { procSysDir: c.procSysDir } : {}),
    ...(c.dnsPort !== undefined
      ? {
          dns: {
            port: c.dnsPort,
            ...(c.dnsAddress ? { address: c.dnsAddress } : {}),
            ...(c.dnsAddress6 ? { address6: c.dnsAddress6 } : {}),
          },
        }
      : {}),
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
  const chain = c.chain
    ? new HostChain(c.chain, `${pkg.version}-${process.version}`, { type: PLUGIN_TYPE, agentSocket: c.socket })
    : undefined;
  await chain?.start();
  const health = c.health ? await serveHealth(c.health, () => chain?.problem) : undefined;
  await new Promise<void>((resolve) => {
    const stop = (signal: string): void => {
      log.info({ signal, teardown: c.teardownOnExit }, "shutdown requested");
      void (async () => {
        const uninstall = c.daemonSet && c.kubeconfig ? await daemonSetGone(c.kubeconfig, c.daemonSet) : false;
        await chain?.stop(uninstall);
        health?.close();
        await agent.stop({ teardown: c.teardownOnExit || uninstall });
      })().then(resolve);
    };
    process.once("SIGTERM", () => stop("SIGTERM"));
    process.once("SIGINT", () => stop("SIGINT"));
  });
  return 0;
}

/** GET /ready: 200 once the plugin is chained (when this agent chains it), else 503 with why; /healthz: 200 while running. */
function serveHealth(at: { host: string; port: number }, problem: () => string | undefined): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    const p = req.url === "/ready" ? problem() : undefined;
    const known = req.url === "/ready" || req.url === "/healthz";
    res.writeHead(!known ? 404 : p ? 503 : 200, { "content-type": "text/plain" });
    res.end(!known ? "not found\n" : p ? `${p}\n` : "ok\n");
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(at.port, at.host, () => resolve(server));
  });
}

/** Is the agent's DaemonSet gone or being deleted (an uninstall)? Unknown (API unreachable) counts as no: the chain stays. */
async function daemonSetGone(kubeconfig: string, ds: { namespace: string; name: string }): Promise<boolean> {
  const { connect } = await import("../kube/apply/connect.js");
  const { readObject } = await import("../kube/apply/apply.js");
  const k = await connect({ kubeconfig });
  if (!k.ok) {
    log.warn({ error: k.error.message }, "cannot ask for the DaemonSet: keeping the CNI plugin chained");
    return false;
  }
  const r = await readObject(k.value.objects, {
    apiVersion: "apps/v1",
    kind: "DaemonSet",
    metadata: { name: ds.name, namespace: ds.namespace },
  });
  if (!r.ok) {
    log.warn({ error: r.error.message }, "cannot read the DaemonSet: keeping the CNI plugin chained");
    return false;
  }
  return isUninstall(r.value as { metadata?: { deletionTimestamp?: string } } | undefined);
}
