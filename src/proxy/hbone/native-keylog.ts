/**
 * The TLS key log of the native HBONE engine: Node writes one for its own TLS sockets when started
 * with `--tls-keylog=FILE` (on the command line or in NODE_OPTIONS); the addon's SSL contexts
 * append to the same file (native/tls_keylog.c), so a capture of HBONE traffic decrypts the same
 * way on both engines (the e2e tests read the CONNECTs and certificates off the wire with it).
 * Node has no API that names the file, so it is read from the process's flags, as Node reads them.
 */

/** The file Node's `--tls-keylog` names in `execArgv` or `nodeOptions` (the last one wins, as for Node), if any. */
export function tlsKeylogFile(execArgv: readonly string[], nodeOptions: string | undefined): string | undefined {
  // NODE_OPTIONS first: flags on the command line override it.
  const args = [...splitNodeOptions(nodeOptions ?? ""), ...execArgv];
  let file: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === "--") break;
    if (a.startsWith("--tls-keylog=")) file = a.slice("--tls-keylog=".length);
    else if (a === "--tls-keylog" && i + 1 < args.length) file = args[++i];
  }
  return file ? file : undefined;
}

/** NODE_OPTIONS as Node splits it: on white space, double quotes group, a backslash escapes inside them. */
export function splitNodeOptions(s: string): string[] {
  const out: string[] = [];
  let cur = "";
  let inArg = false;
  let quoted = false;
  for (let i = 0; i < s.length; i++) {
    const ch = s[i]!;
    if (quoted) {
      if (ch === "\\" && i + 1 < s.length) cur += s[++i];
      else if (ch === '"') quoted = false;
      else cur += ch;
    } else if (ch === '"') {
      quoted = true;
      inArg = true;
    } else if (/\s/.test(ch)) {
      if (inArg) out.push(cur);
      cur = "";
      inArg = false;
    } else {
      cur += ch;
      inArg = true;
    }
  }
  if (inArg) out.push(cur);
  return out;
}

/** This process's key log file, once. */
let current: { file: string | undefined } | undefined;
export function processTlsKeylogFile(): string | undefined {
  current ??= { file: tlsKeylogFile(process.execArgv, process.env.NODE_OPTIONS) };
  return current.file;
}
