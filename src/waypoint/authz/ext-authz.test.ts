/**
 * The waypoint's ext_authz filter, pure parts: the decoder (what istiod writes is accepted, a
 * body limit of 0 and unknown services NACKed), which headers and body a check carries (HTTP
 * defaults and allowed_headers; gRPC everything; with_request_body's cut and partial header), how
 * HTTP and gRPC answers become outcomes (client headers on success included), and the
 * verdict (fail closed with status_on_error, failure_mode_allow).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { EXT_AUTHZ_TYPE_URL, envoyTypes } from "../../common/xds/envoy-proto.js";
import { Decoding } from "../envoy/fields.js";
import { TO_OBJECT } from "../envoy/any.js";
import type { RequestFacts } from "../route/request.js";
import { decodeExtAuthzFilter } from "./decode-ext-authz.js";
import {
  type ExtAuthzFilter,
  checkBody,
  checkHeaders,
  extAuthzEnabled,
  fromCheckResponse,
  fromHttpResponse,
  httpCheckRequest,
  verdictOf,
} from "./ext-authz.js";

/** A config as the control plane writes it, through Envoy's protobuf encoding, into the decoder. */
function decode(config: Record<string, unknown>): { filter?: ExtAuthzFilter; errors: string[] } {
  const T = envoyTypes().root.lookupType(EXT_AUTHZ_TYPE_URL.slice(EXT_AUTHZ_TYPE_URL.lastIndexOf("/") + 1));
  const o = T.toObject(T.decode(T.encode(T.fromObject(config)).finish()), TO_OBJECT) as Record<string, unknown>;
  const d = new Decoding("listener");
  const filter = decodeExtAuthzFilter(d, "envoy.filters.http.ext_authz", o, "f");
  return { ...(filter ? { filter } : {}), errors: d.errors.map((e) => `${e.field}: ${e.reason}`) };
}

const ENABLED = {
  filter: "envoy.filters.http.rbac",
  path: [{ key: "istio_ext_authz_shadow_effective_policy_id" }],
  value: { stringMatch: { prefix: "istio-ext-authz-p" } },
};
const HTTP = {
  allowedHeaders: { patterns: [{ prefix: "x-ext-", ignoreCase: true }] },
  filterEnabledMetadata: ENABLED,
  httpService: {
    pathPrefix: "/check",
    serverUri: { uri: "http://a", cluster: "outbound|1||a", timeout: { seconds: 1 } },
    authorizationRequest: { headersToAdd: [{ key: "X-Added", value: "v" }] },
    authorizationResponse: { allowedUpstreamHeaders: { patterns: [{ exact: "x-user", ignoreCase: true }] } },
  },
  statusOnError: { code: 503 },
  transportApiVersion: "V3",
};
const facts: RequestFacts = {
  method: "POST",
  authority: "echo",
  path: "/a?b=1",
  scheme: "http",
  headers: { "x-ext-a": "1", "x-other": "2", authorization: "Bearer t", "content-length": "5", cookie: ["a", "b"] },
};

test("decodes istiod's HTTP and gRPC configs; Envoy's defaults (403 on error, gRPC 200 ms)", () => {
  const h = decode(HTTP);
  assert.deepEqual(h.errors, []);
  assert.equal(h.filter!.statusOnError, 503);
  assert.equal(h.filter!.failureModeAllow, false);
  assert.deepEqual(h.filter!.service, {
    kind: "http",
    cluster: "outbound|1||a",
    pathPrefix: "/check",
    timeoutMs: 1000,
    headersToAdd: [["X-Added", "v"]],
    allowedUpstreamHeaders: [{ kind: "exact", value: "x-user", ignoreCase: true }],
  });
  const g = decode({ grpcService: { envoyGrpc: { clusterName: "c", authority: "a" } }, failureModeAllow: true });
  assert.deepEqual(g.errors, []);
  assert.deepEqual(
    [g.filter!.statusOnError, g.filter!.failureModeAllow, g.filter!.service],
    [403, true, { kind: "grpc", cluster: "c", authority: "a", timeoutMs: 200 }],
  );
});

test("with_request_body and allowed_client_headers_on_success as istiod writes them", () => {
  const h = decode({
    ...HTTP,
    withRequestBody: { maxRequestBytes: 2048, allowPartialMessage: true, packAsBytes: true },
    httpService: {
      ...HTTP.httpService,
      authorizationResponse: { allowedClientHeadersOnSuccess: { patterns: [{ prefix: "x-ext-", ignoreCase: true }] } },
    },
  });
  assert.deepEqual(h.errors, []);
  assert.deepEqual(h.filter!.withRequestBody, { maxRequestBytes: 2048, allowPartialMessage: true, packAsBytes: true });
  assert.deepEqual(h.filter!.service.kind === "http" && h.filter!.service.allowedClientHeadersOnSuccess, [
    { kind: "prefix", value: "x-ext-", ignoreCase: true },
  ]);
  assert.deepEqual(decode({ ...HTTP, withRequestBody: { maxRequestBytes: 10 } }).filter!.withRequestBody, {
    maxRequestBytes: 10,
    allowPartialMessage: false,
    packAsBytes: false,
  });
});

test("NACKs what would change what is checked: a body limit of 0, no service, another transport, a Google gRPC client", () => {
  assert.match(
    decode({ ...HTTP, withRequestBody: { allowPartialMessage: true } }).errors.join(),
    /f\.with_request_body\.max_request_bytes: 0 must be greater than 0/,
  );
  assert.match(decode({}).errors.join(), /exactly one of http_service, grpc_service/);
  assert.match(decode({ ...HTTP, transportApiVersion: "V2" }).errors.join(), /V2 is not supported/);
  assert.match(decode({ grpcService: { googleGrpc: { targetUri: "x" } } }).errors.join(), /google_grpc/);
});

test("filter_enabled_metadata: runs only when the CUSTOM RBAC shadow rules matched one of the provider's rules", () => {
  const f = decode(HTTP).filter!;
  const md = (v: unknown) => new Map([["envoy.filters.http.rbac", { istio_ext_authz_shadow_effective_policy_id: v }]]);
  assert.equal(extAuthzEnabled(f, md("istio-ext-authz-p-ns[a]-policy[b]-rule[0]")), true);
  assert.equal(extAuthzEnabled(f, md("istio-ext-authz-q-ns[a]-policy[b]-rule[0]")), false);
  assert.equal(extAuthzEnabled(f, new Map()), false);
});

test("check contents: HTTP sends the defaults, allowed_headers and headers_to_add, no body; gRPC sends every header", () => {
  const f = decode(HTTP).filter!;
  assert.ok(f.service.kind === "http");
  assert.deepEqual(httpCheckRequest(f.service, f, facts), {
    method: "POST",
    path: "/check/a?b=1",
    headers: { "x-ext-a": "1", authorization: "Bearer t", "x-added": "v", host: "echo", "content-length": "0" },
    body: Buffer.alloc(0),
  });
  const spoofed = { ...facts, headers: { ...facts.headers, "x-envoy-auth-partial-body": "false" } };
  assert.equal(
    checkHeaders(decode({ grpcService: { envoyGrpc: { clusterName: "c" } } }).filter!, spoofed)["x-envoy-auth-partial-body"],
    undefined,
    "a client's own partial-body header is dropped",
  );
  const g = decode({ grpcService: { envoyGrpc: { clusterName: "c" } } }).filter!;
  assert.deepEqual(checkHeaders(g, facts), {
    "x-ext-a": "1",
    "x-other": "2",
    authorization: "Bearer t",
    "content-length": "5",
    cookie: "a,b",
  });
});

test("check body (with_request_body): at most max_request_bytes, the partial header compares with what was buffered", () => {
  const f = { ...decode(HTTP).filter!, withRequestBody: { maxRequestBytes: 4, allowPartialMessage: true, packAsBytes: false } };
  const cases: [string, Buffer, { bytes: string; partialHeader: string }][] = [
    ["shorter than the limit", Buffer.from("ab"), { bytes: "ab", partialHeader: "false" }],
    ["exactly the limit (Envoy says false even if more was coming)", Buffer.from("abcd"), { bytes: "abcd", partialHeader: "false" }],
    ["buffered past the limit: cut, partial", Buffer.from("abcdefgh"), { bytes: "abcd", partialHeader: "true" }],
  ];
  for (const [name, bytes, want] of cases) {
    const b = checkBody(f, { bytes, complete: true });
    assert.deepEqual(b && { bytes: b.bytes.toString(), partialHeader: b.partialHeader }, want, name);
  }
  assert.equal(checkBody(decode(HTTP).filter!, { bytes: Buffer.from("x"), complete: true }), undefined, "no with_request_body: no body");
  assert.ok(f.service.kind === "http");
  const r = httpCheckRequest(f.service, f, facts, { bytes: Buffer.from("hello"), complete: true });
  assert.equal(r.body.toString(), "hell");
  assert.equal(r.headers["content-length"], "4", "the check's own length");
  assert.equal(r.headers["x-envoy-auth-partial-body"], undefined, "an HTTP check carries it only when allowed_headers match it");
  const allowing = { ...f, allowedHeaders: [{ kind: "exact" as const, value: "x-envoy-auth-partial-body", ignoreCase: true }] };
  assert.equal(
    httpCheckRequest(f.service, allowing, facts, { bytes: Buffer.from("hello"), complete: true }).headers["x-envoy-auth-partial-body"],
    "true",
  );
});

test("HTTP answers: 200 allows with allowed upstream headers only; a 5xx is an error; anything else denies with its status, body, headers", () => {
  const f = decode(HTTP).filter!;
  assert.ok(f.service.kind === "http");
  assert.deepEqual(fromHttpResponse(f.service, 200, { "x-user": "u", "x-other": "o" }, ""), {
    kind: "ok",
    set: [["x-user", "u"]],
    append: [],
    remove: [],
    responseAdd: [],
  });
  const onSuccess = { ...f.service, allowedClientHeadersOnSuccess: [{ kind: "prefix" as const, value: "x-", ignoreCase: true }] };
  const ok = fromHttpResponse(onSuccess, 200, { "x-user": "u", "x-seen": "1", "content-length": "0", date: "d" }, "");
  assert.deepEqual(ok.kind === "ok" && ok.responseAdd, [
    ["x-user", "u"],
    ["x-seen", "1"],
  ]);
  assert.deepEqual(fromHttpResponse(f.service, 503, {}, "down"), { kind: "error", reason: "the authorizer answered 503" });
  assert.deepEqual(fromHttpResponse(f.service, 429, { "x-why": "w", host: "h", "content-length": "2", connection: "close" }, "no"), {
    kind: "denied",
    status: 429,
    body: "no",
    headers: { "x-why": "w" },
  });
  const limited = { ...f.service, allowedClientHeaders: [{ kind: "exact" as const, value: "x-a", ignoreCase: false }] };
  const r = fromHttpResponse(limited, 401, { "x-a": "1", "x-b": "2", "www-authenticate": "Basic" }, "");
  assert.deepEqual(r.kind === "denied" ? r.headers : undefined, { "x-a": "1", "www-authenticate": "Basic" });
});

test("gRPC answers: OK with ok_response header changes (append only when asked); denied_response, 403 by default", () => {
  assert.deepEqual(
    fromCheckResponse({
      status: { code: 0 },
      okResponse: {
        headers: [{ header: { key: "X-A", value: "1" } }, { header: { key: "x-b", value: "2" }, append: { value: true } }],
        headersToRemove: ["X-C"],
      },
    }),
    { kind: "ok", set: [["x-a", "1"]], append: [["x-b", "2"]], remove: ["x-c"], responseAdd: [], responseSet: [] },
  );
  const withClient = fromCheckResponse({
    status: { code: 0 },
    okResponse: {
      responseHeadersToAdd: [{ header: { key: "X-R", value: "1" } }, { header: { key: "x-s", value: "2" }, append: { value: false } }],
    },
  });
  assert.deepEqual(withClient.kind === "ok" && [withClient.responseAdd, withClient.responseSet], [[["x-r", "1"]], [["x-s", "2"]]]);
  assert.deepEqual(fromCheckResponse({ status: { code: 7 } }), { kind: "denied", status: 403, body: "", headers: {} });
  assert.deepEqual(
    fromCheckResponse({
      status: { code: 16 },
      deniedResponse: { status: { code: 401 }, body: "b", headers: [{ header: { key: "x", value: "y" } }] },
    }),
    {
      kind: "denied",
      status: 401,
      body: "b",
      headers: { x: "y" },
    },
  );
});

test("verdict: errors fail closed with status_on_error (empty body), or pass with failure_mode_allow", () => {
  const f = decode(HTTP).filter!;
  assert.deepEqual(verdictOf(f, { kind: "error", reason: "timeout" }), {
    kind: "deny",
    status: 503,
    body: "",
    headers: {},
    details: "ext_authz_error",
  });
  assert.deepEqual(verdictOf({ ...f, failureModeAllow: true }, { kind: "error", reason: "timeout" }), {
    kind: "continue",
    set: {},
    append: [],
    remove: [],
    responseAdd: [],
    responseSet: [],
    failedOpen: true,
  });
  assert.equal(verdictOf(f, { kind: "denied", status: 403, body: "x", headers: {} }).kind, "deny");
});
