/**
 * The serving side of the test agents (test/capture/ns-agent.ts, test/interop/ns-agent.ts):
 * processes a test starts inside a network namespace and drives over JSON lines on stdin and
 * stdout with `Agent` (test/capture/topology.ts). Each request `{"id":N,"op":...}` is answered
 * `{"id":N,"ok":true,"value":...}` or `{"id":N,"ok":false,"error":"..."}`; the line
 * `{"id":0,"ok":true,"value":"ready"}` says the agent is ready; end of stdin ends the process.
 */
import * as readline from "node:readline";

export function serveJsonLines<R extends { readonly id: number }>(handle: (req: R) => Promise<unknown>): void {
  const rl = readline.createInterface({ input: process.stdin });
  rl.on("line", (line) => {
    let req: R;
    try {
      req = JSON.parse(line) as R;
    } catch {
      return;
    }
    handle(req).then(
      (value) => process.stdout.write(`${JSON.stringify({ id: req.id, ok: true, value: value ?? null })}\n`),
      (e: unknown) =>
        process.stdout.write(`${JSON.stringify({ id: req.id, ok: false, error: e instanceof Error ? e.message : String(e) })}\n`),
    );
  });
  rl.on("close", () => process.exit(0));
  process.stdout.write(`${JSON.stringify({ id: 0, ok: true, value: "ready" })}\n`);
}
