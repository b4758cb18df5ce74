/**
 * A small HTTP load client for end-to-end tests, run inside a pod's network namespace
 * (`ip netns exec <pod> node dist/test/e2e/load.js '<json spec>'`): `count` GET requests to
 * `url` over keep-alive connections, at most `concurrency` at once, each with `headers` and, if
 * `keys` is set, `x-user: key-<i mod keys>`. Prints one JSON summary: statuses, the pod that
 * answered (from the echo backend's JSON body), the pod each key landed on, and the slowest
 * non-2xx answer. Not a benchmark: it only counts.
 */
import http from "node:http";

export interface LoadSpec {
  readonly url: string;
  readonly count: number;
  readonly concurrency: number;
  readonly headers?: Readonly<Record<string, string>>;
  readonly keys?: number;
  /** Per request timeout (default 10 s); a timeout counts as status 0. */
  readonly timeoutMs?: number;
}

export interface LoadSummary {
  readonly statuses: Record<string, number>;
  readonly pods: Record<string, number>;
  /** key -> the pods it landed on (one, if the hash is consistent). */
  readonly keyPods: Record<string, string[]>;
  /** The slowest answer that was not 2xx, in ms. */
  readonly slowestFailureMs: number;
  readonly elapsedMs: number;
}

function one(agent: http.Agent, spec: LoadSpec, i: number): Promise<{ status: number; pod: string; key: string; ms: number }> {
  const key = spec.keys ? `key-${i % spec.keys}` : "";
  const started = Date.now();
  return new Promise((resolve) => {
    const req = http.get(spec.url, { agent, headers: { ...spec.headers, ...(key ? { "x-user": key } : {}) } }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => (body += d));
      res.on("end", () => {
        let pod: string;
        try {
          pod = String((JSON.parse(body) as { pod?: string }).pod ?? "");
        } catch {
          pod = ""; // not the echo's JSON: the waypoint answered itself
        }
        resolve({ status: res.statusCode ?? 0, pod, key, ms: Date.now() - started });
      });
    });
    req.setTimeout(spec.timeoutMs ?? 10_000, () => req.destroy(new Error("timeout")));
    req.on("error", () => resolve({ status: 0, pod: "", key, ms: Date.now() - started }));
  });
}

export async function runLoad(spec: LoadSpec): Promise<LoadSummary> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: spec.concurrency });
  const statuses: Record<string, number> = {};
  const pods: Record<string, number> = {};
  const keyPods: Record<string, string[]> = {};
  let slowestFailureMs = 0;
  let next = 0;
  const started = Date.now();
  const worker = async (): Promise<void> => {
    while (next < spec.count) {
      const r = await one(agent, spec, next++);
      statuses[r.status] = (statuses[r.status] ?? 0) + 1;
      if (r.pod) pods[r.pod] = (pods[r.pod] ?? 0) + 1;
      if (r.key && r.pod && !(keyPods[r.key] ??= []).includes(r.pod)) keyPods[r.key]!.push(r.pod);
      if ((r.status < 200 || r.status > 299) && r.ms > slowestFailureMs) slowestFailureMs = r.ms;
    }
  };
  await Promise.all(Array.from({ length: spec.concurrency }, worker));
  agent.destroy();
  return { statuses, pods, keyPods, slowestFailureMs, elapsedMs: Date.now() - started };
}

if (process.argv[1]?.endsWith("load.js") && process.argv[2]) {
  void runLoad(JSON.parse(process.argv[2]) as LoadSpec).then((s) => process.stdout.write(`${JSON.stringify(s)}\n`));
}
