/**
 * The chained CNI plugin's IO: one invocation in (environment + stdin text), one document out
 * (stdout text + exit code). The rules are in protocol.ts.
 *
 * Agent unreachable (decided as Istio's istio-cni does in ambient mode, cni/pkg/plugin: the
 * plugin pushes the pod synchronously to the node agent and fails ADD when the push fails):
 *  - ADD fails with code 11 (try again later), so the runtime retries the sandbox and no pod of
 *    a possibly enrolled namespace ever starts uncaptured; pods of `excludeNamespaces` start;
 *  - DEL always succeeds (the spec requires DEL to tolerate missing state; the agent also
 *    reconciles pods away when their object disappears from its config source);
 *  - CHECK fails with code 11.
 */
import * as http from "node:http";
import { type Result, ok, err } from "../../common/result.js";
import { AGENT_PATH, type AgentReply, type PodEvent } from "../../capture/agent-api.js";
import { CniCode, CniError, errorDocument, mayStartWithoutAgent, parseEnv, parseNetConf, podEvent, versionDocument } from "./protocol.js";

export interface PluginOutput {
  readonly stdout: string;
  readonly exitCode: number;
  /** Diagnostics for stderr (the runtime logs them). */
  readonly stderr: string;
}

/** POSTs one event to the agent's socket. */
export function sendToAgent(socketPath: string, ev: PodEvent, timeoutMs: number): Promise<Result<AgentReply>> {
  const body = JSON.stringify(ev);
  return new Promise((resolve) => {
    const req = http.request(
      {
        socketPath,
        path: AGENT_PATH,
        method: "POST",
        headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) },
        timeout: timeoutMs,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (d: Buffer) => chunks.push(d));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString();
          let reply: AgentReply;
          try {
            reply = JSON.parse(text) as AgentReply;
          } catch {
            reply = { error: text.slice(0, 200) };
          }
          if ((res.statusCode ?? 500) >= 300)
            resolve(err(new Error(`node agent answered ${res.statusCode}: ${reply.error ?? "no reason"}`)));
          else resolve(ok(reply));
        });
        res.on("error", (e) => resolve(err(e)));
      },
    );
    req.on("timeout", () => req.destroy(new Error(`node agent at ${socketPath} did not answer within ${timeoutMs} ms`)));
    req.on("error", (e: NodeJS.ErrnoException) =>
      resolve(err(new Error(`node agent at ${socketPath} unreachable: ${e.code ?? e.message}`))),
    );
    req.end(body);
  });
}

export async function runPlugin(env: Readonly<Record<string, string | undefined>>, stdin: string): Promise<PluginOutput> {
  const fail = (version: string, e: CniError, stderr = ""): PluginOutput => ({
    stdout: errorDocument(version, e),
    exitCode: 1,
    stderr: stderr || `weft-cni: ${e.message}`,
  });
  const inv = parseEnv(env);
  if (!inv.ok) return fail("1.0.0", inv.error);
  if (inv.value.command === "VERSION") {
    // The spec passes {"cniVersion": X} on stdin; answer in that version when we know it.
    let version = "1.0.0";
    try {
      const v = (JSON.parse(stdin) as { cniVersion?: unknown }).cniVersion;
      if (typeof v === "string" && v) version = v;
    } catch {
      /* no stdin: answer in 1.0.0 */
    }
    return { stdout: versionDocument(version), exitCode: 0, stderr: "" };
  }
  const conf = parseNetConf(stdin, inv.value.command);
  if (!conf.ok) return fail("1.0.0", conf.error);
  const version = conf.value.cniVersion;
  const ev = podEvent(inv.value, conf.value);
  if (!ev.ok) return fail(version, ev.error);
  const sent = await sendToAgent(conf.value.agentSocket, ev.value, conf.value.agentTimeoutMs);
  switch (ev.value.command) {
    case "ADD":
      if (!sent.ok && !mayStartWithoutAgent(ev.value, conf.value)) {
        return fail(
          version,
          new CniError(
            CniCode.tryAgainLater,
            `weft: pod ${ev.value.namespace}/${ev.value.name}: cannot register with the node agent`,
            sent.error.message,
          ),
        );
      }
      // Chained plugin: the previous result goes through unchanged.
      return {
        stdout: JSON.stringify(conf.value.prevResult),
        exitCode: 0,
        stderr: sent.ok ? "" : `weft-cni: ${sent.error.message} (excluded namespace, pod started anyway)`,
      };
    case "DEL":
      return { stdout: "", exitCode: 0, stderr: sent.ok ? "" : `weft-cni: DEL not delivered: ${sent.error.message}` };
    case "CHECK":
      if (!sent.ok)
        return fail(
          version,
          new CniError(CniCode.tryAgainLater, `weft: pod ${ev.value.namespace}/${ev.value.name}: check failed`, sent.error.message),
        );
      return { stdout: "", exitCode: 0, stderr: "" };
  }
}
