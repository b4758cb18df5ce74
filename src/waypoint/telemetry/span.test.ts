import { test } from "node:test";
import assert from "node:assert/strict";
import { type SpanFacts, spanOf } from "./span.js";

const facts = (over: Partial<SpanFacts> = {}): SpanFacts => ({
  traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-1111111111111111-01",
  parentSpanId: "00f067aa0ba902b7",
  method: "GET",
  authority: "reviews:9080",
  path: "/reviews/0?x=1",
  protocol: "HTTP/1.1",
  status: 200,
  flags: "",
  requestId: "rid",
  startMs: 1000,
  endMs: 1012,
  peerAddress: "10.0.0.1",
  canonicalService: "waypoint",
  namespace: "shop",
  requestBytes: 0,
  responseBytes: 10,
  ...over,
});

test("span of a sampled hop: its ids, Envoy's name and attributes; errors for 5xx, 0 and gRPC failures", () => {
  const s = spanOf(facts())!;
  assert.deepEqual(
    [s.traceId, s.spanId, s.parentSpanId, s.name],
    ["4bf92f3577b34da6a3ce929d0e0e4736", "1111111111111111", "00f067aa0ba902b7", "reviews:9080/reviews/0"],
  );
  assert.equal(s.attributes["http.url"], "http://reviews:9080/reviews/0?x=1");
  assert.equal(s.attributes["response_flags"], "-");
  assert.equal(s.error, false);
  assert.equal(spanOf(facts({ status: 503 }))!.error, true);
  assert.equal(spanOf(facts({ status: 0 }))!.error, true, "no response (reset)");
  assert.equal(spanOf(facts({ status: 200, grpcStatus: "14" }))!.error, true);
  assert.equal(spanOf(facts({ status: 200, grpcStatus: "0" }))!.attributes["grpc.status_code"], "0");
});

test("no span for an unsampled or absent or malformed context", () => {
  assert.equal(spanOf(facts({ traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-1111111111111111-00" })), undefined);
  assert.equal(spanOf(facts({ traceparent: undefined })), undefined);
  assert.equal(spanOf(facts({ traceparent: "garbage" })), undefined);
});
