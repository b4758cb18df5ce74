import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { constants as h2 } from "node:http2";
import { decideLibraryError } from "./session-guard.js";

void describe("decideLibraryError", () => {
  const cases: [string, number, string, ReturnType<typeof decideLibraryError>["kind"], number?][] = [
    ["an unsolicited PING ACK (ERR_PROTO) keeps the session", -505, "ERR_HTTP2_ERROR", "keep"],
    ["a flow-control error is answered by nghttp2 (FLOW_CONTROL_ERROR)", -524, "ERR_HTTP2_ERROR", "keep"],
    ["a frame on a closed stream is answered by nghttp2 (STREAM_CLOSED)", -510, "ERR_HTTP2_ERROR", "keep"],
    ["flooding destroys with ENHANCE_YOUR_CALM", -904, "ERR_HTTP2_ERROR", "destroy", h2.NGHTTP2_ENHANCE_YOUR_CALM],
    [
      "too many invalid frames destroys with ENHANCE_YOUR_CALM",
      -902,
      "ERR_HTTP2_TOO_MANY_INVALID_FRAMES",
      "destroy",
      h2.NGHTTP2_ENHANCE_YOUR_CALM,
    ],
    ["a bad client preface destroys with PROTOCOL_ERROR", -903, "ERR_HTTP2_ERROR", "destroy", h2.NGHTTP2_PROTOCOL_ERROR],
    ["another fatal error destroys with INTERNAL_ERROR", -902, "ERR_HTTP2_ERROR", "destroy", h2.NGHTTP2_INTERNAL_ERROR],
  ];
  for (const [name, errno, code, kind, h2code] of cases) {
    void it(name, () => {
      const d = decideLibraryError(errno, code);
      assert.equal(d.kind, kind);
      if (d.kind === "destroy") assert.equal(d.code, h2code);
    });
  }
});
