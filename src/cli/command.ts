/**
 * How every `weft` subcommand is declared (commander): one-line errors prefixed once with the
 * command's path (`weft ztunnel: unknown option '--nod'`), a pointer to `--help`, examples in
 * help, kubectl's flag conventions, and component flag tables (src/common/flags.ts) turned into
 * options. A component command validates its flags here and hands them, re-serialised, to its
 * config.ts, which stays the only reader of flags and environment.
 */
import { Command, Option } from "commander";
import { type FlagSpec, flagHelp } from "../common/flags.js";

/** Exit codes: 0 done, 1 the operation failed, 2 the command line was wrong. */
export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

/** An expected failure of a verb: printed as one line `weft <verb>: <message>`, no stack. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT_FAILED,
  ) {
    super(message);
  }
}

export function commandPath(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c; c = c.parent) names.unshift(c.name());
  return names.join(" ");
}

/** commander's messages start with `error: `; weft prints `weft <path>: ...` once. */
export function formatCommanderError(path: string, text: string): string {
  const msg = text
    .trim()
    .replace(/^error:\s*/i, "")
    .replace(/\s*\n\s*/g, " ");
  return `${path}: ${msg} (see '${path} --help')\n`;
}

function configure(cmd: Command): Command {
  return cmd
    .exitOverride()
    .configureOutput({ outputError: (text, write) => write(formatCommanderError(commandPath(cmd), text)) })
    .showSuggestionAfterError(true)
    .helpOption("-h, --help", "show this help");
}

export function rootCommand(name: string): Command {
  return configure(new Command(name));
}

/** A subcommand with weft's error style; `summary` is the one line the parent's help lists. */
export function subcommand(parent: Command, name: string, summary: string): Command {
  const cmd = new Command(name);
  parent.addCommand(configure(cmd).summary(summary).description(summary));
  return cmd;
}

/** Appends an `Examples:` block to a command's help. */
export function examples(cmd: Command, lines: readonly string[]): Command {
  return cmd.addHelpText("after", `\nExamples:\n${lines.map((l) => `  ${l}`).join("\n")}\n`);
}

const camel = (name: string): string => name.replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase());

/** Declares a component's flag table on `cmd`: help shows env and default; the loader applies them. */
export function declareFlags(cmd: Command, specs: readonly FlagSpec[]): Command {
  for (const f of specs) {
    const flags = `${f.short ? `-${f.short}, ` : ""}--${f.name}${f.arg ? ` <${f.arg}>` : ""}`;
    cmd.addOption(new Option(flags, flagHelp(f)));
  }
  return cmd;
}

/** The argv a component's config loader reads, rebuilt from the options commander validated. */
export function flagsToArgv(specs: readonly FlagSpec[], opts: Record<string, unknown>): string[] {
  const out: string[] = [];
  for (const f of specs) {
    const v = opts[camel(f.name)];
    if (v === undefined || v === false) continue;
    out.push(`--${f.name}`);
    if (f.arg) out.push(String(v));
  }
  return out;
}

export type OutputFormat = "table" | "wide" | "json" | "yaml";

/** kubectl's `-o json|yaml|wide` (default: a table). */
export function outputOption(cmd: Command): Command {
  return cmd.addOption(
    new Option("-o, --output <format>", "output format: json, yaml or wide (default: a table)").choices(["json", "yaml", "wide"]),
  );
}

export function outputFormat(opts: { output?: string }): OutputFormat {
  return (opts.output as OutputFormat | undefined) ?? "table";
}

/** kubectl's namespace flags. */
export function namespaceOptions(cmd: Command, allDefault = false): Command {
  return cmd
    .option("-n, --namespace <ns>", allDefault ? "only this namespace (default: all)" : "namespace (default: default)")
    .option("-A, --all-namespaces", "every namespace");
}

/**
 * Runs a verb: its number is the exit code; a CliError is one line `weft <verb>: <message>`;
 * anything else is a bug and is printed the same way (with the stack only when WEFT_DEBUG is set).
 */
export function action<O>(cmd: Command, f: (opts: O, cmd: Command) => Promise<number>): Command {
  // commander passes declared arguments before the options: read the options from the command.
  return cmd.action(async () => {
    try {
      process.exitCode = await f(cmd.opts<O & object>(), cmd);
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      process.stderr.write(`${commandPath(cmd)}: ${msg}\n`);
      if (!(e instanceof CliError) && process.env.WEFT_DEBUG && e instanceof Error) process.stderr.write(`${e.stack}\n`);
      process.exitCode = e instanceof CliError ? e.exitCode : EXIT_FAILED;
    }
  });
}

/** Prints a component's own error (already prefixed with its name) as `weft <name>: ...`, once. */
export function componentError(cmd: Command, message: string): string {
  const path = commandPath(cmd);
  const own = `${cmd.name()}: `;
  return `${path}: ${message.startsWith(own) ? message.slice(own.length) : message}\n`;
}

/**
 * A component's process command: its flag table declared, examples, and `run` called with the
 * validated flags as argv for the component's own loader.
 */
export function componentCommand(
  program: Command,
  c: { name: string; summary: string; flags: readonly FlagSpec[]; examples: readonly string[] },
  run: (cmd: Command, argv: string[]) => Promise<number>,
): Command {
  const cmd = declareFlags(subcommand(program, c.name, c.summary), c.flags);
  examples(cmd, c.examples);
  return action(cmd, (opts: Record<string, unknown>) => run(cmd, flagsToArgv(c.flags, opts)));
}
