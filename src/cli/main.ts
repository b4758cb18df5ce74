#!/usr/bin/env node
/**
 * The `weft` command: one binary, one subcommand per component.
 */
import { runZtunnel } from "./ztunnel.js";
import { runCa } from "./ca.js";
import { runControlPlane } from "./controlplane.js";
import { runCniAgent } from "./cni-agent.js";
import { runCniPlugin } from "./cni-plugin.js";
import { runLocal } from "./local.js";
import { runAuthz } from "./authz.js";
import pkg from "../../package.json";

const USAGE = `usage: weft <command> [flags]

commands:
  ztunnel        run a node's ztunnel (HBONE data plane)
  controlplane   serve ztunnels (delta xDS + CA) from a folder of YAML or Kubernetes
  authz explain  would a connection be allowed, and which policy decides (asks the ztunnel)
  ca init|show   create or inspect a local mesh CA directory (Istio cacerts layout)
  cni-agent      run a node's CNI agent (enrolls pods into capture by their labels)
  cni            the chained CNI plugin (CNI_COMMAND etc. in the environment, config on stdin)
  local          up|down|status|label: a multi-node local cluster on network namespaces
  version        print the version
`;

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case "ztunnel":
      return runZtunnel(rest);
    case "ca":
      return runCa(rest);
    case "controlplane":
      return runControlPlane(rest);
    case "authz":
      return runAuthz(rest);
    case "cni-agent":
      return runCniAgent(rest);
    case "cni":
      return runCniPlugin();
    case "local":
      return runLocal(rest);
    case "version":
      console.log(`weft ${pkg.version}`);
      return 0;
    case undefined:
    case "help":
    case "--help":
    case "-h":
      process.stdout.write(USAGE);
      return cmd === undefined ? 2 : 0;
    default:
      process.stderr.write(`weft: unknown command ${JSON.stringify(cmd)}\n${USAGE}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    console.error(`weft: ${(e as Error).stack ?? String(e)}`);
    process.exitCode = 1;
  },
);
