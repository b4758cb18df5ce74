/**
 * The CNI plugin's executable entry (`weft cni`, or this file directly from the wrapper script
 * that install.ts writes into a CNI bin dir): stdin and environment in, one document out.
 * Kept free of heavy imports so each pod start costs one small Node process.
 */
import { runPlugin } from "../cni/plugin/plugin.js";

export async function runCniPlugin(): Promise<number> {
  const chunks: Buffer[] = [];
  if (!process.stdin.isTTY) for await (const c of process.stdin) chunks.push(c as Buffer);
  const out = await runPlugin(process.env, Buffer.concat(chunks).toString());
  if (out.stderr) process.stderr.write(`${out.stderr}\n`);
  if (out.stdout) process.stdout.write(out.stdout);
  return out.exitCode;
}

if (require.main === module) {
  void runCniPlugin().then((code) => {
    process.exitCode = code;
  });
}
