import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import pino from "pino";
import { type AccessLogEntry, accessLogLine, accessLogText, isoTime, pinoAccessLog } from "./access-log.js";

const NOW = Date.UTC(2026, 11, 2, 13, 45, 6, 789);

/** What pino itself writes for the entry: a logger with the root logger's options, child component waypoint.access. */
function pinoLine(e: AccessLogEntry, pid: number): string {
  const out: string[] = [];
  const log = pino(
    { level: "info", base: { pid }, timestamp: () => `,"time":"${new Date(NOW).toISOString()}"` },
    { write: (s: string) => void out.push(s) },
  ).child({ component: "waypoint.access" });
  log.info(e, "access");
  assert.equal(out.length, 1);
  return out[0]!;
}

const base: AccessLogEntry = {
  start_time: "2026-12-02T13:45:06.700Z",
  method: "GET",
  path: "/",
  protocol: "HTTP/1.1",
  response_code: 200,
  response_flags: "-",
  response_code_details: "via_upstream",
  bytes_received: 97,
  bytes_sent: 153,
  duration: 1,
  request_id: "6f1c2a8e-7d1e-4b8e-9a51-0c3b1d2e4f60",
  authority: "wp.bm.svc.cluster.local",
  route_name: "default",
  downstream_local_address: "198.19.207.65:80",
  downstream_remote_address: "10.0.1.5:40312",
  downstream_peer_principal: "spiffe://cluster.local/ns/bm/sa/client",
};

const cases: Array<[string, AccessLogEntry]> = [
  ["a local answer (no upstream fields)", base],
  [
    "a forwarded request with every optional field",
    {
      ...base,
      upstream_path: "/v2/items?x=1",
      upstream_service_time: 0,
      user_agent: "wrk",
      upstream_host: "10.0.0.7:8080",
      upstream_cluster: "outbound|80||wp.bm.svc.cluster.local",
      upstream_peer_principal: "spiffe://cluster.local/ns/bm/sa/backend",
      grpc_status: "0",
      traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    },
  ],
  [
    "authz reports (arrays of objects, pino's JSON.stringify)",
    {
      ...base,
      response_code: 403,
      authz_policy: "ns[bm]-policy[deny-all]-rule[0]",
      authz_dry_run: [{ result: "denied", policy: "ns[bm]-policy[dry]-rule[0]" }, { result: "allowed" }],
      authz_audit: ["ns[bm]-policy[audit]-rule[0]"],
      request_principal: "https://issuer.example/user@example.com",
      ext_authz: [{ result: "failed_open", policy: "ns[bm]-policy[ext]-rule[1]" }],
    },
  ],
  [
    "strings that need quoting: quotes, backslashes, control characters, non-ASCII, a long one",
    {
      ...base,
      path: '/a"b\\c\td\u0001e/é/\u00ff?q=' + "x".repeat(80),
      user_agent: 'curl/8 "quoted" \\ back\r\n',
      authority: "ünïcode.example:80",
    },
  ],
  ["undefined optional fields are left out, as pino does", { ...base, upstream_path: undefined, user_agent: undefined }],
  ["a non-finite number is null, as pino writes it", { ...base, duration: Number.NaN, bytes_sent: Number.POSITIVE_INFINITY }],
];

for (const [name, e] of cases) {
  test(`accessLogLine writes pino's bytes: ${name}`, () => {
    assert.equal(accessLogLine(e, 4242, NOW), pinoLine(e, 4242));
  });
}

test("accessLogLine is one JSON line with the entry's fields after the logger's", () => {
  const line = accessLogLine(base, 7, NOW);
  assert.ok(line.endsWith("}\n") && !line.slice(0, -1).includes("\n"));
  const parsed = JSON.parse(line) as Record<string, unknown>;
  assert.deepEqual(Object.keys(parsed).slice(0, 4), ["level", "time", "pid", "component"]);
  assert.equal(parsed["time"], "2026-12-02T13:45:06.789Z");
  assert.equal(parsed["msg"], "access");
  assert.equal(parsed["route_name"], "default");
});

test("isoTime is Date's toISOString for every value, repeated or alternating", () => {
  const values = [0, 1, 1, 2, 1, 2, 3, 1_796_409_782_971, 1_796_409_782_971, 1_796_409_782_972, 1_796_409_782_971, 86_400_000];
  for (const ms of values) assert.equal(isoTime(ms), new Date(ms).toISOString(), String(ms));
});

test("accessLogText is Istio's default TEXT line: its fields in order, `-` for what is unset", () => {
  assert.equal(
    accessLogText(base),
    `[${base.start_time}] "${base.method} ${base.path} ${base.protocol}" ${base.response_code} ${base.response_flags} ${base.response_code_details} - "-" ` +
      `${base.bytes_received} ${base.bytes_sent} ${base.duration} ${base.upstream_service_time ?? "-"} "-" "${base.user_agent ?? "-"}" "${base.request_id}" ` +
      `"${base.authority}" "${base.upstream_host ?? "-"}" ${base.upstream_cluster ?? "-"} - ${base.downstream_local_address} ${base.downstream_remote_address} - ${base.route_name}\n`,
  );
  const local = accessLogText({
    ...base,
    response_flags: "",
    upstream_host: undefined,
    upstream_cluster: undefined,
    user_agent: undefined,
  });
  assert.match(local, / 200 - /);
  assert.match(local, / "-" "-" "6f1c/);
  assert.match(local, / "-" - - 198\.19\.207\.65:80 /);
});

test("pinoAccessLog appends to a file path in the encoding asked, batched and flushed on its timer", async () => {
  const dir = mkdtempSync(path.join(tmpdir(), "weft-alog-"));
  const file = path.join(dir, "access.log");
  pinoAccessLog(base, [
    { path: file, encoding: "TEXT" },
    { path: file, encoding: "JSON" },
  ]);
  await new Promise((r) => setTimeout(r, 1300));
  const lines = readFileSync(file, "utf8").split("\n");
  assert.equal(lines[0], accessLogText(base).trimEnd());
  assert.equal((JSON.parse(lines[1]!) as { msg: string }).msg, "access");
  rmSync(dir, { recursive: true, force: true });
});
