/**
 * Fuzz targets run in process against the pure parsers and decoders at weft's edges: HBONE
 * CONNECT authorities and `forwarded` headers, SOCKS5 greetings and requests, delta xDS
 * responses as ztunnel and the waypoint apply them (every resource decoded, then applied to a
 * real state mutator), config YAML through the control plane's own validator chain, and the
 * waypoint's lean HTTP/1.1 request parser against llhttp (target-h1.ts).
 *
 * Oracle for each: no exception escapes (an expected failure is a Result), every error names its
 * resource or object and field and gives a reason, and what is accepted is self-consistent (a
 * parsed authority prints back to itself, a SOCKS5 parse never consumes more than it was given).
 * The one documented exception: the gRPC message decoders (`decodeDeltaResponse`) throw on bytes
 * that are not protobuf, which grpc-js turns into an INTERNAL status for the stream.
 */
import assert from "node:assert/strict";
import { formatAddress } from "../../src/common/net/addr.js";
import { decodeDeltaResponse } from "../../src/common/xds/delta-wire.js";
import type { ResourceError } from "../../src/common/xds/resource-error.js";
import { ENVOY_TYPE_URLS, decodeEnvoyResource } from "../../src/waypoint/envoy/decode.js";
import { parseAuthority, parseForwarded } from "../../src/proxy/hbone/headers.js";
import { applyResponse } from "../../src/proxy/xds/apply-response.js";
import { ProxyState } from "../../src/proxy/state/state.js";
import { StateMutator } from "../../src/proxy/state/mutator.js";
import { parseGreeting, parseRequest, type Parse } from "../../src/ztunnel/traffic/socks5.js";
import { parseConfigText } from "../../src/kube/folder/yaml-documents.js";
import { objectValidator } from "../../src/kube/validate/validate.js";
import { policyValidator } from "../../src/controlplane/policies.js";
import type { KubeObject } from "../../src/kube/object.js";
import { isPlainObject } from "../../src/kube/validate/validate-schema.js";
import type { FuzzTarget } from "./runner.js";
import { h1RequestTarget } from "./target-h1.js";

function named(errors: readonly ResourceError[], what: string): void {
  assert.ok(errors.length > 0, `${what}: a failure without errors`);
  for (const e of errors) {
    assert.equal(typeof e.resource, "string", `${what}: error without a resource: ${JSON.stringify(e)}`);
    assert.ok(typeof e.field === "string" && e.field !== "", `${what}: error without a field: ${JSON.stringify(e)}`);
    assert.ok(typeof e.reason === "string" && e.reason !== "", `${what}: error without a reason: ${JSON.stringify(e)}`);
  }
}

export const authorityTarget: FuzzTarget = {
  name: "authority",
  maxLen: 512,
  watchdogMs: 1000,
  dictionary: [
    ":",
    "[",
    "]",
    "::",
    "::ffff:",
    "%25eth0",
    "0",
    "65535",
    "65536",
    "-1",
    "1e3",
    "0x10",
    "127.0.0.1",
    "\0",
    " ",
    ";",
    ",",
    '"',
    "for=",
    "host=",
  ],
  run(input) {
    const text = input.toString("latin1");
    const a = parseAuthority(text);
    if (a.ok) {
      assert.ok(a.value.port >= 1 && a.value.port <= 65535, `authority ${JSON.stringify(text)}: port ${a.value.port} accepted`);
      const again = parseAuthority(formatAddress(a.value));
      assert.ok(again.ok, `authority ${JSON.stringify(text)} parses but its own form ${formatAddress(a.value)} does not`);
      assert.deepEqual(again.value, a.value);
    } else {
      assert.match(a.error.message, /^hbone request: /);
    }
    const f = parseForwarded(text);
    if (f.for) assert.ok(f.for.port >= 0 && f.for.port <= 65535);
  },
};

function checkParse<T>(p: Parse<T>, length: number, what: string): void {
  if (p.state === "done") assert.ok(p.consumed > 0 && p.consumed <= length, `${what}: consumed ${p.consumed} of ${length}`);
  if (p.state === "error") assert.ok(p.reason.startsWith("socks: "), `${what}: ${p.reason}`);
}

export const socks5Target: FuzzTarget = {
  name: "socks5",
  maxLen: 1024,
  watchdogMs: 1000,
  run(input) {
    const g = parseGreeting(input);
    checkParse(g, input.length, "greeting");
    const rest = g.state === "done" ? input.subarray(g.consumed) : input;
    const r = parseRequest(rest);
    checkParse(r, rest.length, "request");
    if (r.state === "done") {
      assert.ok(r.value.port > 0 && r.value.port <= 65535);
      // Every prefix of an accepted request asks for more bytes or fails; none is accepted as a shorter request.
      for (let n = 0; n < r.consumed; n++) assert.notEqual(parseRequest(rest.subarray(0, n)).state, "done", `a ${n}-byte prefix accepted`);
    }
  },
};

/** A DeltaDiscoveryResponse as ztunnel (Address, Authorization) and the waypoint (Envoy types) handle it. */
export const xdsTarget: FuzzTarget = {
  name: "xds",
  maxLen: 16 * 1024,
  watchdogMs: 2000,
  dictionary: ["type.googleapis.com/istio.workload.Address", "type.googleapis.com/istio.security.Authorization", ...ENVOY_TYPE_URLS],
  run(input) {
    let resp;
    try {
      resp = decodeDeltaResponse(input);
    } catch (e) {
      // The gRPC deserializer's contract: an Error, which grpc-js maps to INTERNAL.
      assert.ok(e instanceof Error, `decodeDeltaResponse threw a non-Error: ${String(e)}`);
      return;
    }
    const mutator = new StateMutator(new ProxyState());
    const known = new Map<string, string>();
    const out = applyResponse(resp, mutator, known);
    if (out.errors.length) named(out.errors, "ztunnel apply");
    assert.ok(known.size <= resp.resources.length);
    // A second, identical response must be handled the same (idempotent apply).
    const again = applyResponse(resp, mutator, known);
    assert.equal(again.errors.length, out.errors.length, "the same response applied twice gave different errors");
    for (const typeUrl of ENVOY_TYPE_URLS) {
      for (const r of resp.resources) {
        const d = decodeEnvoyResource(typeUrl, r.resource?.value ?? new Uint8Array(), r.name);
        if (!d.ok) named(d.error, `waypoint ${typeUrl.slice(typeUrl.lastIndexOf(".") + 1)}`);
      }
    }
  },
};

const validate = policyValidator({ rootNamespace: "istio-system", trustDomain: "cluster.local" }, objectValidator());

/** A config file as the control plane's folder source reads it: YAML documents, then its validator chain. */
export const yamlTarget: FuzzTarget = {
  name: "yaml",
  maxLen: 16 * 1024,
  watchdogMs: 3000,
  dictionary: [
    "\n",
    ": ",
    "- ",
    "---\n",
    "{",
    "}",
    "[",
    "]",
    "&a ",
    "*a",
    "<<: *a",
    "!!binary ",
    "!!str ",
    "'",
    '"',
    "#",
    "~",
    "null",
    "0x",
    "1e999",
    ".inf",
    "? ",
  ],
  run(input) {
    const parsed = parseConfigText(input.toString("utf8"));
    if (!parsed.ok) {
      assert.ok(parsed.error.reason !== "" && parsed.error.line >= 0, `yaml problem without reason: ${JSON.stringify(parsed.error)}`);
      return;
    }
    for (const raw of parsed.value) {
      const r = validate(raw.value as KubeObject, { source: `fuzz.yaml:${raw.line}` });
      if (r.ok) continue;
      assert.ok(r.error.reason !== "", `validator problem without reason: ${JSON.stringify(r.error)}`);
      if (isPlainObject(raw.value)) assert.ok(r.error.field !== "", `validator problem without a field: ${JSON.stringify(r.error)}`);
    }
  },
};

export const parserTargets: readonly FuzzTarget[] = [authorityTarget, socks5Target, xdsTarget, yamlTarget, h1RequestTarget];
