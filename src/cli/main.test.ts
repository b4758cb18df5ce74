/**
 * The `weft` command as a user meets it: every subcommand answers --help with usage, flags and
 * examples; wrong flags and missing files give one line without a stack trace or Node warning;
 * --version. Runs the built entry point (no sockets, no root).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { buildProgram, isWaypointProxy } from "./main.js";
import type { Command } from "commander";

const MAIN = path.join(__dirname, "main.js");
const weft = (...args: string[]) =>
  spawnSync(process.execPath, [MAIN, ...args], { encoding: "utf8", env: { ...process.env, WEFT_LOCAL_DIR: "/nonexistent-weft" } });

function leaves(c: Command, prefix: string[] = []): string[][] {
  const subs = c.commands.filter((s) => s.name() !== "help" && !(s as unknown as { _hidden?: boolean })._hidden);
  if (!subs.length) return [prefix];
  return [prefix, ...subs.flatMap((s) => leaves(s, [...prefix, s.name()]))];
}

test("every subcommand has help with usage and options; the commands with flags list examples", async () => {
  const program = await buildProgram();
  const all = leaves(program).filter((p) => p.length);
  assert.ok(all.length >= 20, `found ${all.length} commands`);
  const find = (p: string[]): Command => p.reduce((c, n) => c.commands.find((s) => s.name() === n)!, program);
  for (const p of all)
    assert.match(find(p).helpInformation(), new RegExp(`^Usage: weft ${p.join(" ")}[^]*Options:[^]*-h, --help`), p.join(" "));
  for (const p of [
    ["ztunnel"],
    ["controlplane"],
    ["proxy-status"],
    ["ztunnel-config"],
    ["analyze"],
    ["authz", "explain"],
    ["waypoint", "apply"],
  ]) {
    const help = weft(...p, "--help");
    assert.equal(help.status, 0, `${p.join(" ")} --help: ${help.stderr}`);
    assert.equal(help.stderr, "");
    assert.match(help.stdout, /Examples:\n {2}\S/, `${p.join(" ")} has examples`);
  }
  assert.match(find(["ztunnel"]).helpInformation(), /--drain-seconds <SECONDS>\s+how long[^]*default 5\)/);
});

test("--version and version print the package version and the Node.js runtime", () => {
  const v = weft("--version");
  assert.equal(v.status, 0);
  assert.match(v.stdout, /^weft \d+\.\d+\.\d+ \(node v\d+\.\d+\.\d+\)\n$/);
  assert.equal(weft("version").stdout, v.stdout);
});

test("the installed command (bin/weft) runs on the pinned Node.js even when PATH finds another node first", (t) => {
  const root = path.join(__dirname, "..", "..", "..");
  const pinned = /^WEFT_NODE_VERSION=(\S+)$/m.exec(readFileSync(path.join(root, "scripts", "node-env.sh"), "utf8"))?.[1];
  assert.ok(pinned, "scripts/node-env.sh pins WEFT_NODE_VERSION");
  const ready = spawnSync("bash", ["-c", ". scripts/node-env.sh && weft_node_ready"], { cwd: root });
  if (ready.status !== 0) {
    t.skip("SKIP: the pinned Node.js runtime is not installed (bash scripts/setup.sh)");
    return;
  }
  // PATH as sudo leaves it: Debian's node (if any) is the only one on it.
  const r = spawnSync(path.join(root, "bin", "weft"), ["--version"], { encoding: "utf8", env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin" } });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`^weft \\S+ \\(node v${pinned.replace(/\./g, "\\.")}\\)\n$`));
});

test("wrong flags, commands and files give one clear line, exit 2, no stack, no Node warning", () => {
  for (const [args, want] of [
    [["ztunnel", "--nod", "x"], /^weft ztunnel: unknown option '--nod' \(Did you mean --node\?\) \(see 'weft ztunnel --help'\)\n$/],
    [["frobnicate"], /^weft: unknown command 'frobnicate' \(see 'weft --help'\)\n$/],
    [["ztunnel"], /^weft ztunnel: node name required/],
    [["controlplane", "--config-dir", "x"], /^weft controlplane: --ca-dir DIR is required/],
    [["analyze", "/nonexistent-weft.yaml"], /^weft analyze: \/nonexistent-weft.yaml: no such file or directory\n$/],
    [["proxy-status", "-o", "xml"], /^weft proxy-status: option '-o, --output <format>' argument 'xml' is invalid/],
    [["ca", "show"], /^weft ca show: required option '--dir <dir>' not specified/],
  ] as const) {
    const r = weft(...args);
    assert.equal(r.status, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, want, args.join(" "));
    assert.equal(r.stderr.trim().split("\n").length, 1, `one line: ${r.stderr}`);
    assert.doesNotMatch(r.stderr, / {4}at |DeprecationWarning|weft: weft|ztunnel: ztunnel/);
  }
  const missing = weft("proxy-status");
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /^weft proxy-status: no local cluster in \/nonexistent-weft/);
  // Kubernetes targets: a missing kubeconfig and mixed kinds of target are command-line errors, one line each.
  for (const [args, want] of [
    [
      ["proxy-status", "--kubeconfig", "/nonexistent-weft.kubeconfig"],
      "weft proxy-status: --kubeconfig /nonexistent-weft.kubeconfig: no such file\n",
    ],
    [
      ["ztunnel-config", "workloads", "--dir", "/x", "--context", "prod"],
      "weft ztunnel-config workloads: --dir (the local cluster) and --kubeconfig/--context (Kubernetes) are exclusive\n",
    ],
    [
      ["proxy-status", "--controlplane", "127.0.0.1:15014", "--kubeconfig", "/k"],
      "weft proxy-status: an explicit address excludes --kubeconfig and --context\n",
    ],
  ] as const) {
    const r = weft(...args);
    assert.equal(r.status, 2, args.join(" "));
    assert.equal(r.stderr, want);
  }
});

test("weft install --mesh-config: the control plane's reader checks the file first; a good one becomes ConfigMap istio's mesh", (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), "weft-mesh-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const bad = path.join(dir, "bad.yaml");
  writeFileSync(bad, "extensionProviders:\n- name: otel\n  opentelemetry: { service: otel.observability.svc, port: 99999 }\n");
  for (const [file, want] of [
    [path.join(dir, "missing.yaml"), `weft install: --mesh-config ${path.join(dir, "missing.yaml")}: no such file\n`],
    [bad, `weft install: mesh config ${bad}: extensionProviders[0].opentelemetry.port: 99999 is not a port\n`],
  ] as const) {
    const r = weft("install", "--dry-run", "--mesh-config", file);
    assert.equal(r.status, 2, r.stderr);
    assert.equal(r.stderr, want);
    assert.equal(r.stdout, "", "nothing rendered");
  }
  const good = path.join(dir, "mesh.yaml");
  writeFileSync(
    good,
    "defaultConfig:\n  tracing: { sampling: 10 }\nextensionProviders:\n- name: otel\n  opentelemetry: { service: otel.observability.svc, port: 4317 }",
  );
  const r = weft("install", "--dry-run", "--mesh-config", good);
  assert.equal(r.status, 0, r.stderr);
  const cm = r.stdout.split(/^---$/m).find((d) => /kind: ConfigMap/.test(d) && /name: istio\n/.test(d));
  assert.ok(cm, "ConfigMap istio rendered");
  assert.match(cm, /service: otel\.observability\.svc, port: 4317 \}\n/, "the file's text, as given, with a final newline");
  const plain = weft("install", "--dry-run");
  assert.match(plain.stdout, /--mesh-config FILE/, "without a file: weft's default, which says how to keep edits");
});

test("weft waypoint: operator verbs and help go to the verbs, anything else to the proxy", () => {
  for (const [argv, proxy] of [
    [["waypoint", "apply"], false],
    [["waypoint", "status", "-n", "x"], false],
    [["waypoint", "--help"], false],
    [["waypoint"], false],
    [["waypoint", "--name", "wp", "--namespace", "demo"], true],
    [["ztunnel", "--name"], false],
  ] as const)
    assert.equal(isWaypointProxy(argv), proxy, argv.join(" "));
});

test("log lines: on stderr for operator verbs (their stdout is output), on stdout for the components", () => {
  const LOG = path.join(__dirname, "../common/log.js");
  /** Runs main(argv), then logs one line at warn: what landed on stdout and stderr. */
  const after = (argv: string[]) => {
    const script = `require(${JSON.stringify(MAIN)}).main(${JSON.stringify(argv)}).then(() => require(${JSON.stringify(LOG)}).logger("t").warn("marker-line"))`;
    return spawnSync(process.execPath, ["-e", script], { encoding: "utf8", env: { ...process.env, WEFT_LOG: "info" } });
  };
  const verb = after(["version"]);
  assert.match(verb.stdout, /^weft \S+ \(node v[\d.]+\)\n$/, "a verb's stdout is only its output");
  assert.match(verb.stderr, /"component":"t".*"msg":"marker-line"/);
  for (const c of ["ztunnel", "controlplane", "cni-agent"]) {
    const comp = after([c, "--help"]);
    assert.match(comp.stdout, /"msg":"marker-line"/, `${c}: logs on stdout (its container log)`);
    assert.doesNotMatch(comp.stderr, /marker-line/, c);
  }
});
