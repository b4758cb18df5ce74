/**
 * Route-level resilience through ztunnel -> waypoint -> ztunnel in one process, with real
 * HTTP/1.1, HTTP/2 and gRPC clients and backends that fail, reset or stall on command: retries
 * (counted at the backends, each retry on another endpoint), retry conditions, body replay and
 * its bound, connect-failure retries, max_retries and the cluster's retry budget (with a
 * positive control), route and per-try timeouts (504 UT),
 * gRPC deadlines and status retries, and fault injection (abort, delay, gRPC trailers-only
 * abort). Response flags are checked in the access log and istio_requests_total. No root.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import http2 from "node:http2";
import net from "node:net";
import * as grpc from "@grpc/grpc-js";
import { CertificateAuthority } from "../../src/ca/ca.js";
import { LocalCaClient } from "../../src/proxy/identity/ca-client.js";
import type { Ztunnel } from "../../src/ztunnel/ztunnel.js";
import { startZtunnelPair } from "../support/ztunnel-config.js";
import { Waypoint } from "../../src/waypoint/waypoint.js";
import { parseStaticWaypointConfig } from "../../src/waypoint/static-config.js";
import { startWithAddresses, staticWaypointConfig } from "../support/waypoint-config.js";
import type { AccessLogEntry } from "../../src/waypoint/telemetry/access-log.js";
import { EchoServer, type Misbehaviour, type Seen } from "./backend.js";
import { C, IP, services, staticFile, workloads } from "./resilience-fixture.js";

const parsed = parseStaticWaypointConfig(staticFile);
const wpConfig = staticWaypointConfig(IP.waypoint, parsed.ok ? parsed.value : undefined);

/**
 * The chaos protocol (a test device): `x-chaos: fail=N;status=S;delay=MS;reset;refused` makes
 * the first N attempts of the request with this `x-test-id` (counted across all backends;
 * absent N: every attempt) misbehave.
 */
const attempts = new Map<string, Seen[]>();
/** When each attempt reached its backend (the chaos function runs once per attempt, after its body). */
const startedAt = new Map<Seen, number>();
function chaos(s: Seen): Misbehaviour | undefined {
  const id = String(s.headers["x-test-id"] ?? "");
  if (!id) return undefined;
  const list = attempts.get(id) ?? [];
  list.push(s);
  attempts.set(id, list);
  startedAt.set(s, Date.now());
  const spec = String(s.headers["x-chaos"] ?? "");
  if (!spec) return undefined;
  const kv = new Map(
    spec.split(";").map((p) => {
      const [k, v] = p.split("=");
      return [k!, v ?? ""] as const;
    }),
  );
  const fail = kv.has("fail") ? Number(kv.get("fail")) : Infinity;
  if (list.length > fail) return undefined;
  return {
    ...(kv.has("delay") ? { delayMs: Number(kv.get("delay")) } : {}),
    ...(kv.has("status") ? { status: Number(kv.get("status")) } : kv.has("delay") ? {} : { status: 503 }),
    ...(kv.has("reset") ? { reset: true } : {}),
    ...(kv.has("refused") ? { reset: true, refused: true } : {}),
  };
}
/** The waypoint's random draws (back-off jitter, balancing); a test may pin it and must restore it. */
let draw = Math.random;
let testIds = 0;
const newId = () => `t${++testIds}`;
const seenBy = (id: string) => attempts.get(id) ?? [];

let za: Ztunnel, zb: Ztunnel, wp: Waypoint;
const backends = [new EchoServer("r1", chaos), new EchoServer("r2", chaos), new EchoServer("r3", chaos)];
let grpcSrv: grpc.Server;
const access: AccessLogEntry[] = [];

/** Raw-bytes gRPC methods of the chaos service: Flaky answers UNAVAILABLE to its first attempt per x-test-id; Slow sleeps 1 s. */
const raw = {
  requestSerialize: (b: Buffer) => b,
  requestDeserialize: (b: Buffer) => b,
  responseSerialize: (b: Buffer) => b,
  responseDeserialize: (b: Buffer) => b,
};
const CHAOS_GRPC = {
  Flaky: { path: "/weft.test.Chaos/Flaky", requestStream: false, responseStream: false, ...raw },
  Slow: { path: "/weft.test.Chaos/Slow", requestStream: false, responseStream: false, ...raw },
} as const;
const grpcAttempts = new Map<string, number>();

before(async () => {
  assert.ok(parsed.ok, JSON.stringify(!parsed.ok && parsed.error));
  const ca = await CertificateAuthority.createSelfSigned({ trustDomain: "cluster.local" });
  assert.ok(ca.ok);
  const client = new LocalCaClient(ca.value);
  [za, zb] = await startZtunnelPair(
    { a: IP.ztA, b: IP.ztB },
    { workloads, services },
    [
      { ip: IP.chaosVip, port: 80 },
      { ip: IP.grpcVip, port: 50051 },
      { ip: IP.limitedVip, port: 80 },
    ],
    client,
  );
  wp = new Waypoint(wpConfig, { caClient: client, rootsPem: client.rootsPem, accessLog: (e) => access.push(e), random: () => draw() });
  await startWithAddresses(wp, workloads, services);
  await Promise.all(backends.map((b, i) => b.listen([IP.r1, IP.r2, IP.r3][i]!, 8080)));
  grpcSrv = new grpc.Server();
  grpcSrv.addService(CHAOS_GRPC as unknown as grpc.ServiceDefinition, {
    Flaky: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      const id = String(call.metadata.get("x-test-id")[0] ?? "");
      const n = (grpcAttempts.get(id) ?? 0) + 1;
      grpcAttempts.set(id, n);
      if (n === 1) return cb({ code: grpc.status.UNAVAILABLE, details: "try again" });
      cb(null, Buffer.from(`ok after ${n}`));
    },
    Slow: (_call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      setTimeout(() => cb(null, Buffer.from("late")), 1000).unref();
    },
  });
  await new Promise<void>((resolve, reject) =>
    grpcSrv.bindAsync(`${IP.r1}:50051`, grpc.ServerCredentials.createInsecure(), (e) => (e ? reject(e) : resolve())),
  );
});

after(async () => {
  for (const b of backends) b.close();
  grpcSrv.forceShutdown();
  await Promise.all([za.stop(), zb.stop(), wp.stop()]);
});

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  ms: number;
}

/** One HTTP/1.1 request from the client workload (a new connection each time). */
function send(
  path: string,
  headers: Record<string, string>,
  opts: { method?: string; body?: string | Buffer; host?: string } = {},
): Promise<Reply> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: opts.host ?? IP.chaosVip, port: 80, path, method: opts.method ?? "GET", headers, localAddress: IP.sleep, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString(), ms: Date.now() - t0 }),
        );
      },
    );
    req.on("error", reject);
    req.end(opts.body);
  });
}

/** Access log entries are matched by the x-request-id the test sets to its test id. */
async function entry(id: string): Promise<AccessLogEntry> {
  for (let i = 0; i < 100; i++) {
    const e = access.find((a) => a.request_id === id);
    if (e) return e;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`no access log entry with request id ${id}`);
}

const H = (id: string, chaosSpec?: string): Record<string, string> => ({
  "x-test-id": id,
  "x-request-id": id,
  ...(chaosSpec ? { "x-chaos": chaosSpec } : {}),
});

test("retries: a 503 twice, then success on the third endpoint; each attempt on another endpoint (previous_hosts)", async () => {
  const id = newId();
  const r = await send("/retry", H(id, "fail=2"));
  assert.equal(r.status, 200);
  const seen = seenBy(id);
  assert.equal(seen.length, 3, "the backends received exactly 3 attempts");
  assert.equal(new Set(seen.map((s) => s.pod)).size, 3, `three different endpoints: ${seen.map((s) => s.pod).join(",")}`);
  const e = await entry(id);
  assert.equal(e.response_flags, "-");
  assert.equal(e.response_code, 200);
});

test("retries exhausted: the last 503 is returned with URX, after 1 + num_retries attempts", async () => {
  const id = newId();
  const r = await send("/retry", H(id, "status=503"));
  assert.equal(r.status, 503);
  assert.match(r.body, /says 503/, "the upstream's own answer, not a local reply");
  assert.equal(seenBy(id).length, 3);
  assert.equal((await entry(id)).response_flags, "URX");
  const metrics = await wp.metrics.registry.metrics();
  assert.match(metrics, /istio_requests_total\{[^}]*response_code="503"[^}]*response_flags="URX"/);
});

test("retry conditions: gateway-error retries 502 but not 500; the default route does not retry", async () => {
  const a = newId();
  assert.equal((await send("/gw", H(a, "fail=1;status=502"))).status, 200);
  assert.equal(seenBy(a).length, 2);
  const b = newId();
  assert.equal((await send("/gw", H(b, "fail=1;status=500"))).status, 500);
  assert.equal(seenBy(b).length, 1, "500 is not a gateway error");
  const c = newId();
  assert.equal((await send("/", H(c, "fail=1"))).status, 503);
  assert.equal(seenBy(c).length, 1);
});

test("retries replay the request body; a body over the retry buffer is not retried", async () => {
  const id = newId();
  const r = await send("/retry", H(id, "fail=1"), { method: "POST", body: "the same body twice" });
  assert.equal(r.status, 200);
  assert.deepEqual(
    seenBy(id).map((s) => s.body),
    ["the same body twice", "the same body twice"],
  );
  const big = newId();
  const body = Buffer.alloc((1 << 20) + 4096, 120);
  const rb = await send("/retry", H(big, "fail=1"), { method: "POST", body });
  assert.equal(rb.status, 503, "over 1 MiB the request cannot be replayed");
  assert.equal(seenBy(big).length, 1);
  assert.equal(seenBy(big)[0]!.body?.length, body.length);
});

test("reset: an upstream reset before the response is retried; connect failures are retried under connect-failure", async () => {
  const id = newId();
  const r = await send("/reset", H(id, "fail=1;reset"));
  assert.equal(r.status, 200);
  assert.equal(seenBy(id).length, 2);
  // The flaky cluster is [dead, r1]: round robin sends one of two requests to the dead endpoint first.
  const ids = [newId(), newId()];
  const ok = await Promise.all(ids.map((i) => send("/connect", H(i))));
  assert.deepEqual(
    ok.map((x) => x.status),
    [200, 200],
  );
  const without = await Promise.all([newId(), newId()].map((i) => send("/noretry-connect", H(i))));
  const failed = without.filter((x) => x.status === 503);
  assert.equal(failed.length, 1, "without retries one of the two hits the dead endpoint");
  assert.match(failed[0]!.body, /connection failure/);
});

test("route timeout: 504 with upstream request timeout and UT within [300, 400) ms", async () => {
  const id = newId();
  const r = await send("/timeout", H(id, "delay=1500"));
  assert.equal(r.status, 504);
  assert.equal(r.body, "upstream request timeout");
  assert.ok(r.ms >= 300 && r.ms < 400, `took ${r.ms} ms`);
  const e = await entry(id);
  assert.equal(e.response_flags, "UT");
  assert.equal(e.response_code_details, "upstream_response_timeout");
});

test("per-try timeout: the slow first attempt is abandoned and retried on another endpoint", async () => {
  const id = newId();
  const r = await send("/pertry", H(id, "fail=1;delay=1000;status=200"));
  assert.equal(r.status, 200);
  assert.ok(r.ms >= 150 && r.ms < 800, `took ${r.ms} ms`);
  const seen = seenBy(id);
  assert.equal(seen.length, 2);
  assert.notEqual(seen[0]!.pod, seen[1]!.pod);
  const all = newId();
  const slow = await send("/pertry", H(all, "delay=1000;status=200"));
  assert.equal(slow.status, 504);
  const e = await entry(all);
  assert.equal(e.response_flags, "UT,URX");
  assert.equal(e.response_code_details, "upstream_per_try_timeout");
});

test("max_retries: concurrent failing requests cannot multiply the load past 3 outstanding retries", async () => {
  const ids = Array.from({ length: 10 }, () => newId());
  const rs = await Promise.all(ids.map((i) => send("/budget", H(i, "delay=150;status=503"))));
  assert.ok(rs.every((r) => r.status === 503));
  const total = ids.reduce((n, i) => n + seenBy(i).length, 0);
  // Without the budget: 10 x 3 = 30 attempts. With at most 3 retries outstanding, and each retry
  // held until its attempt ends, only 3 requests retry at a time.
  assert.ok(total >= 13 && total <= 16, `${total} attempts`);
  assert.ok(ids.filter((i) => seenBy(i).length === 1).length >= 7, "most requests were not retried");
});

/** The most retry attempts (the second or later attempt of a request) the backends held at once; each attempt lasts `ms`. */
function retryOverlap(ids: readonly string[], ms: number): number {
  const starts = ids
    .flatMap((i) =>
      seenBy(i)
        .slice(1)
        .map((s) => startedAt.get(s)!),
    )
    .sort((a, b) => a - b);
  let most = 0;
  for (let i = 0; i < starts.length; i++) most = Math.max(most, starts.filter((t) => t >= starts[i]! && t < starts[i]! + ms).length);
  return most;
}

test("retry budget (25%, floor 2): 20 concurrent failing requests; retries stay within the budget, the rest answer at once with UO", async (t) => {
  const N = 20;
  const run = async (path: string) => {
    const ids = Array.from({ length: N }, () => newId());
    const rs = await Promise.all(ids.map((i) => send(path, H(i, "delay=150;status=503"))));
    assert.ok(
      rs.every((r) => r.status === 503 && /says 503/.test(r.body)),
      "every client gets the upstream's own last answer",
    );
    return { ids, attempts: ids.reduce((n, i) => n + seenBy(i).length, 0), overlap: retryOverlap(ids, 150) };
  };
  // Positive control first: without a budget (Istio's unlimited max_retries) every request makes 1 + 2 attempts.
  const none = await run("/rb/none");
  assert.equal(none.attempts, N * 3, "no budget: retries triple the load");
  assert.ok(none.overlap > 5, `no budget: ${none.overlap} retries ran at once`);

  const b = await run("/rb/budget");
  // At most max(2, 25% x 20 in flight) = 5 retries at once, whatever the load; never the 40 the policy asks for.
  assert.ok(b.overlap <= 5, `budget: ${b.overlap} retries ran at once`);
  assert.ok(b.overlap >= 2, `budget: ${b.overlap} retries ran at once: max_retries 1 is ignored once a budget is set`);
  assert.ok(b.attempts <= N + 10, `budget: ${b.attempts} attempts for ${N} requests (no budget: ${none.attempts})`);
  const flags = await Promise.all(b.ids.map(async (i) => (await entry(i)).response_flags));
  const overflowed = flags.filter((f) => f === "UO").length;
  t.diagnostic(
    `no budget: ${none.attempts} attempts, ${none.overlap} retries at once; budget: ${b.attempts} attempts, ${b.overlap} at once, ${overflowed} UO`,
  );
  assert.ok(overflowed >= N - 10, `${overflowed} requests were answered without their retry (UO): ${flags.join(" ")}`);
  assert.ok(
    flags.every((f) => f === "UO" || f === "URX" || f === "-"),
    flags.join(" "),
  );
  const metrics = await wp.metrics.registry.metrics();
  const m = new RegExp(`envoy_cluster_upstream_rq_retry_overflow\\{cluster_name="${C.budget.replace(/\|/g, "\\|")}"\\} (\\d+)`).exec(
    metrics,
  );
  assert.ok(m && Number(m[1]) >= overflowed, `retry overflow counted: ${m?.[0]}`);
  assert.doesNotMatch(
    metrics,
    new RegExp(`envoy_cluster_upstream_rq_retry_overflow\\{cluster_name="${C.unbudgeted.replace(/\|/g, "\\|")}"\\} [1-9]`),
  );
});

test("back-off frees max_requests: with max_requests 1, a request sent during another's retry back-off is served", async () => {
  draw = () => 0.99; // the jittered back-off is 0.99 x 600 ms
  try {
    const a = newId();
    const b = newId();
    const first = send("/held", H(a, "fail=1;status=503"));
    for (let i = 0; i < 200 && seenBy(a).length === 0; i++) await new Promise((r) => setTimeout(r, 5));
    await new Promise((r) => setTimeout(r, 150)); // a's 503 is back; its retry waits about 590 ms
    const second = await send("/held", H(b));
    assert.equal(second.status, 200, `b during a's back-off: ${second.status} ${second.body} (${(await entry(b)).response_flags})`);
    assert.equal(seenBy(a).length, 1, "b was answered before a's retry started");
    const r = await first;
    assert.equal(r.status, 200, "a's retry is admitted again after the back-off");
    assert.equal(seenBy(a).length, 2);
    // The slot is really one: a request sent while a's retry is in flight overflows at once.
    const c = newId();
    const d = newId();
    const slow = send("/held", H(c, "delay=300;status=200"));
    for (let i = 0; i < 200 && seenBy(c).length === 0; i++) await new Promise((r) => setTimeout(r, 5));
    const over = await send("/held", H(d));
    assert.equal(over.status, 503);
    assert.equal((await entry(d)).response_flags, "UO");
    assert.equal((await slow).status, 200);
  } finally {
    draw = Math.random;
  }
});

test("HTTP/2 downstream: a REFUSED_STREAM is retried under the retry policy", async () => {
  const id = newId();
  const s = http2.connect(`http://${IP.chaosVip}:80`, {
    createConnection: () => net.connect({ host: IP.chaosVip, port: 80, localAddress: IP.sleep }),
  });
  try {
    const st = s.request({ ":path": "/retry", ...H(id, "fail=1;refused") });
    st.end();
    const [status, body] = await new Promise<[number, string]>((resolve, reject) => {
      let code = 0;
      const chunks: Buffer[] = [];
      st.on("response", (h) => (code = Number(h[":status"])));
      st.on("data", (c: Buffer) => chunks.push(c));
      st.on("end", () => resolve([code, Buffer.concat(chunks).toString()]));
      st.on("error", reject);
    });
    assert.equal(status, 200);
    assert.equal((JSON.parse(body) as { proto: string }).proto, "HTTP/2");
    assert.equal(seenBy(id).length, 2);
  } finally {
    s.close();
  }
});

test("fault abort: 418 fault filter abort, FI, and the backend never sees the request", async () => {
  const id = newId();
  const r = await send("/abort", H(id));
  assert.equal(r.status, 418);
  assert.equal(r.body, "fault filter abort");
  assert.equal(seenBy(id).length, 0);
  const e = await entry(id);
  assert.equal(e.response_flags, "FI");
  assert.equal(e.response_code_details, "fault_filter_abort");
  const n = newId();
  assert.equal((await send("/nopct", H(n))).status, 200, "an abort without a percentage never fires (Envoy's 0% default)");
});

test("fault delay: the request is held 200 ms, then forwarded; DI", async () => {
  const id = newId();
  const r = await send("/delay", H(id));
  assert.equal(r.status, 200);
  assert.ok(r.ms >= 200 && r.ms < 400, `took ${r.ms} ms`);
  assert.equal(seenBy(id).length, 1);
  assert.equal((await entry(id)).response_flags, "DI");
});

/** One gRPC call over raw HTTP/2 from the client workload: status, headers and whether the answer was trailers-only. */
async function grpcCall(
  path: string,
  metadata: Record<string, string>,
): Promise<{ grpcStatus: string; message: string; trailersOnly: boolean; ms: number; body: Buffer }> {
  const t0 = Date.now();
  const s = http2.connect(`http://${IP.grpcVip}:50051`, {
    createConnection: () => net.connect({ host: IP.grpcVip, port: 50051, localAddress: IP.sleep }),
  });
  try {
    const st = s.request({ ":method": "POST", ":path": path, "content-type": "application/grpc", te: "trailers", ...metadata });
    const msg = Buffer.from("ping");
    const frame = Buffer.alloc(5 + msg.length);
    frame.writeUInt32BE(msg.length, 1);
    msg.copy(frame, 5);
    st.end(frame);
    return await new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let head: http2.IncomingHttpHeaders = {};
      let trailersOnly = false;
      st.on("response", (h, flags) => {
        head = h;
        trailersOnly = (flags & http2.constants.NGHTTP2_FLAG_END_STREAM) !== 0;
      });
      st.on("data", (c: Buffer) => chunks.push(c));
      let trailers: http2.IncomingHttpHeaders = {};
      st.on("trailers", (t) => (trailers = t));
      st.on("end", () => {
        const h = trailersOnly ? head : trailers;
        resolve({
          grpcStatus: String(h["grpc-status"]),
          message: decodeURIComponent(String(h["grpc-message"] ?? "")),
          trailersOnly,
          ms: Date.now() - t0,
          body: Buffer.concat(chunks),
        });
      });
      st.on("error", reject);
    });
  } finally {
    s.close();
  }
}

test("gRPC: a fault abort is a trailers-only UNAVAILABLE; a retry on unavailable succeeds; max_grpc_timeout caps the deadline", async () => {
  const abort = await grpcCall("/weft.test.Chaos/Abort", { "x-request-id": "g-abort" });
  assert.deepEqual([abort.grpcStatus, abort.message, abort.trailersOnly], ["14", "fault filter abort", true]);
  const ab = await entry("g-abort");
  assert.equal(ab.response_flags, "FI");
  assert.equal(ab.grpc_status, "14");

  const flaky = await grpcCall("/weft.test.Chaos/Flaky", { "x-test-id": "g-flaky" });
  assert.equal(flaky.grpcStatus, "0");
  assert.equal(flaky.body.subarray(5).toString(), "ok after 2");
  assert.equal(grpcAttempts.get("g-flaky"), 2);

  // The client asks for 5 s; the route's max_grpc_timeout (300 ms) wins: Envoy answers the timeout as gRPC UNAVAILABLE.
  const slow = await grpcCall("/weft.test.Chaos/Slow", { "grpc-timeout": "5S", "x-request-id": "g-slow" });
  assert.deepEqual([slow.grpcStatus, slow.message, slow.trailersOnly], ["14", "upstream request timeout", true]);
  assert.ok(slow.ms >= 300 && slow.ms < 450, `took ${slow.ms} ms`);
  assert.equal((await entry("g-slow")).response_flags, "UT");
  // A shorter client deadline is honoured (and sent upstream as grpc-timeout).
  const short = await grpcCall("/weft.test.Chaos/Slow", { "grpc-timeout": "100m" });
  assert.equal(short.grpcStatus, "14");
  assert.ok(short.ms >= 100 && short.ms < 250, `took ${short.ms} ms`);
});

test("local rate limit: 3 tokens per second for the virtual host, then 429 local_rate_limited with x-ratelimit headers; RL", async () => {
  // The bucket is created full by the first request; four quick requests fall in its first second.
  const ids = [newId(), newId(), newId(), newId()];
  const rs: Reply[] = [];
  for (const i of ids) rs.push(await send("/", H(i), { host: IP.limitedVip }));
  assert.deepEqual(
    rs.map((r) => r.status),
    [200, 200, 200, 429],
  );
  assert.equal(rs[3]!.body, "local_rate_limited");
  assert.equal(rs[3]!.headers["x-ratelimit-limit"], "3");
  assert.equal(rs[3]!.headers["x-ratelimit-remaining"], "0");
  assert.equal(seenBy(ids[3]!).length, 0, "a limited request never reaches a backend");
  assert.equal((await entry(ids[3]!)).response_flags, "RL");
  await new Promise((r) => setTimeout(r, 1100));
  assert.equal((await send("/", H(newId()), { host: IP.limitedVip })).status, 200, "the bucket refills");
});
