#!/usr/bin/env -S node --max-semi-space-size=16
/**
 * The `weft` command: one binary, one subcommand per component and per operator verb, declared
 * with commander (src/cli/command.ts has the conventions). `weft waypoint` is two commands in
 * one: its operator verbs (apply|list|delete|status, waypoint-admin.ts) and, for anything else,
 * the waypoint proxy process (waypoint.ts), so `weft waypoint --name ...` runs the proxy.
 */
import * as path from "node:path";
import type { Command } from "commander";
import { CommanderError } from "commander";
import pkg from "../../package.json";
import { EXIT_FAILED, EXIT_OK, rootCommand, subcommand } from "./command.js";
import { WAYPOINT_ADMIN_VERBS } from "./waypoint-verbs.js";

type Register = (program: Command) => void;

/**
 * Every subcommand, in help order, with the module that declares it. A module is loaded only
 * when its command runs (or for the full help), so `weft ztunnel` loads the ztunnel's modules
 * and not the control plane's, the kube client's or the dashboard's: about 6 MB less idle RSS
 * and a faster start (docs/hbone.md, Performance, idle RSS).
 */
const COMMANDS: ReadonlyArray<readonly [name: string, load: () => Promise<Register>]> = [
  ["controlplane", async () => (await import("./controlplane.js")).registerControlPlane],
  ["ztunnel", async () => (await import("./ztunnel.js")).registerZtunnel],
  ["cni-agent", async () => (await import("./cni-agent.js")).registerCniAgent],
  ["cni", async () => registerCniPlugin],
  ["waypoint", async () => (await import("./waypoint-admin.js")).registerWaypointAdmin],
  ["proxy-status", async () => (await import("./proxy-status.js")).registerProxyStatus],
  ["ztunnel-config", async () => (await import("./ztunnel-config.js")).registerZtunnelConfig],
  ["analyze", async () => (await import("./analyze.js")).registerAnalyze],
  ["dashboard", async () => (await import("./dashboard.js")).registerDashboard],
  ["authz", async () => (await import("./authz.js")).registerAuthz],
  ["ca", async () => (await import("./ca.js")).registerCa],
  ["local", async () => (await import("./local.js")).registerLocal],
  ["install", async () => (await import("./install/install.js")).registerInstall],
  ["uninstall", async () => (await import("./install/install.js")).registerUninstall],
  ["version", async () => registerVersion],
];

/** The program with every subcommand, or with `only` alone when it names one (what `main` runs). */
export async function buildProgram(only?: string): Promise<Command> {
  const program = rootCommand("weft")
    .description("weft: an ambient-style service mesh (ztunnel, control plane, CNI, waypoints) and its operator tools")
    .version(versionLine(), "-v, --version", "print the version")
    .enablePositionalOptions();
  program.addHelpText("after", "\nRun 'weft <command> --help' for a command's flags, defaults and examples. Docs: docs/cli.md\n");
  const one = COMMANDS.find(([name]) => name === only);
  for (const [, load] of one ? [one] : COMMANDS) (await load())(program);
  return program;
}

function registerCniPlugin(program: Command): void {
  subcommand(program, "cni", "the chained CNI plugin (CNI_COMMAND etc. in the environment, config on stdin)")
    .allowUnknownOption()
    .allowExcessArguments()
    .action(async () => {
      process.exitCode = await (await import("./cni-plugin.js")).runCniPlugin();
    });
}

function registerVersion(program: Command): void {
  subcommand(program, "version", "print the version").action(() => {
    process.stdout.write(`${versionLine()}\n`);
  });
}

/** weft's version and the Node.js runtime it runs on (the pinned one, see bin/weft). */
function versionLine(): string {
  return `weft ${pkg.version} (node ${process.version})`;
}

/** `weft waypoint ARGS` runs the proxy unless ARGS start with an operator verb or ask for help. */
export function isWaypointProxy(argv: readonly string[]): boolean {
  if (argv[0] !== "waypoint") return false;
  const first = argv[1];
  return first !== undefined && !WAYPOINT_ADMIN_VERBS.includes(first) && !["--help", "-h", "help"].includes(first);
}

/**
 * The waypoint proxy's command (src/cli/waypoint.ts, `runWaypoint(argv)`) is built separately;
 * it is loaded by path so this entry point builds and runs with or without it.
 */
async function runWaypointProxy(argv: string[]): Promise<number> {
  let mod: { runWaypoint?: (argv: string[]) => Promise<number> };
  try {
    mod = (await import(path.join(__dirname, "waypoint.js"))) as typeof mod;
  } catch {
    process.stderr.write(
      "weft waypoint: the waypoint proxy is not part of this build; operator verbs: weft waypoint apply|list|delete|status\n",
    );
    return EXIT_FAILED;
  }
  if (typeof mod.runWaypoint !== "function") {
    process.stderr.write("weft waypoint: src/cli/waypoint.ts exports no runWaypoint(argv)\n");
    return EXIT_FAILED;
  }
  return mod.runWaypoint(argv);
}

/**
 * The mesh's long-running components: their logs are their output (stdout, as container logs).
 * Every other command's stdout is its output (`-o json`, tables, the CNI plugin's result), so
 * its logs go to stderr.
 */
export const COMPONENT_COMMANDS: readonly string[] = ["controlplane", "ztunnel", "cni-agent"];

export async function main(argv: string[]): Promise<number> {
  if (isWaypointProxy(argv)) return runWaypointProxy(argv.slice(1));
  if (!COMPONENT_COMMANDS.includes(argv[0] ?? "")) (await import("../common/log.js")).logToStderr();
  const program = await buildProgram(argv[0]);
  if (argv.length === 0) {
    process.stdout.write(program.helpInformation());
    return 2;
  }
  try {
    await program.parseAsync(argv, { from: "user" });
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? EXIT_OK : 2;
    throw e;
  }
  return typeof process.exitCode === "number" ? process.exitCode : EXIT_OK;
}

if (require.main === module) {
  // Output piped into a reader that stopped (`weft --help | head`): end quietly, as Unix tools do.
  process.stdout.on("error", (e: NodeJS.ErrnoException) => {
    if (e.code === "EPIPE") process.exit(EXIT_OK);
    throw e;
  });
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(`weft: ${e instanceof Error ? e.message : String(e)}\n`);
      if (process.env.WEFT_DEBUG && e instanceof Error) process.stderr.write(`${e.stack}\n`);
      process.exitCode = EXIT_FAILED;
    },
  );
}
