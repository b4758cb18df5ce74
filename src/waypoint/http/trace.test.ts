import { test } from "node:test";
import assert from "node:assert/strict";
import { propagate } from "./trace.js";

const ids = { randomHex: (n: number) => "ab".repeat(n), uuid: () => "11111111-2222-4333-8444-555555555555" };

test("trace: x-request-id is added when absent and kept when present", () => {
  assert.equal(propagate({}, ids).requestId, "11111111-2222-4333-8444-555555555555");
  assert.equal(propagate({}, ids).headers["x-request-id"], "11111111-2222-4333-8444-555555555555");
  assert.equal(propagate({ "x-request-id": "mine" }, ids).headers["x-request-id"], "mine");
});

test("trace: W3C traceparent keeps the trace id and flags, with a new span id", () => {
  const tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
  const r = propagate({ traceparent: tp, tracestate: "k=v" }, ids);
  assert.equal(r.headers["traceparent"], "00-0af7651916cd43dd8448eb211c80319c-abababababababab-01");
  assert.equal(r.headers["tracestate"], "k=v");
  for (const bad of [
    "junk",
    "00-00000000000000000000000000000000-b7ad6b7169203331-01",
    "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
  ]) {
    const b = propagate({ traceparent: bad, tracestate: "k=v" }, ids);
    assert.equal(b.headers["traceparent"], undefined, bad);
    assert.equal(b.headers["tracestate"], undefined, bad);
  }
  assert.equal(propagate({}, ids).headers["traceparent"], undefined, "no trace is started");
});

test("trace: B3 multi and single headers get a new span, the old one becomes the parent", () => {
  const r = propagate({ "x-b3-traceid": "463ac35c9f6413ad48485a3953bb6124", "x-b3-spanid": "A2FB4A1D1A96D312", "x-b3-sampled": "1" }, ids);
  assert.equal(r.headers["x-b3-traceid"], "463ac35c9f6413ad48485a3953bb6124");
  assert.equal(r.headers["x-b3-spanid"], "abababababababab");
  assert.equal(r.headers["x-b3-parentspanid"], "a2fb4a1d1a96d312");
  assert.equal(r.headers["x-b3-sampled"], "1");
  const s = propagate({ b3: "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1" }, ids);
  assert.equal(s.headers["b3"], "80f198ee56343ba864fe8b2a57d3eff7-abababababababab-1-e457b5a2e4d86bd1");
  assert.equal(propagate({ b3: "0" }, ids).headers["b3"], "0", "a sampling-only b3 passes unchanged");
});

test("with tracing on, a request without context starts a trace sampled as decided; a client's context wins", () => {
  const started = propagate({}, ids, { sampled: true });
  assert.match(started.traceparent ?? "", /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
  assert.equal(started.parentSpanId, undefined);
  assert.match(propagate({}, ids, { sampled: false }).traceparent ?? "", /-00$/);
  const kept = propagate({ traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00" }, ids, { sampled: true });
  assert.match(kept.traceparent ?? "", /^00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-00$/, "the client's decision stands");
  assert.equal(kept.parentSpanId, "00f067aa0ba902b7");
  assert.equal(propagate({}, ids).traceparent, undefined, "tracing off: none started");
});
