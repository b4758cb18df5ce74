import { test } from "node:test";
import assert from "node:assert/strict";
import { PassThrough, Writable } from "node:stream";
import { once } from "node:events";
import { ReplayBody } from "./replay-body.js";

/** A sink that counts end() calls after the test's own (a fake attempt stream). */
function countingSink(): { sink: Writable; ends: () => number; got: () => string } {
  let n = 0;
  let got = "";
  const sink = new Writable({
    write(c: Buffer, _e, cb) {
      got += c.toString();
      cb();
    },
  });
  const end = sink.end.bind(sink);
  sink.end = ((...a: Parameters<Writable["end"]>) => {
    n++;
    return end(...a);
  }) as Writable["end"];
  return { sink, ends: () => n, got: () => got };
}

test("ReplayBody ends the attached sink once, and not at all when it was ended already (an HTTP/2 GET stream)", async () => {
  for (const [name, preEnded, body] of [
    ["open sink, body", false, "abc"],
    ["open sink, no body", false, ""],
    ["sink ended by its creator", true, ""],
  ] as const) {
    const req = new PassThrough();
    const replay = new ReplayBody(req);
    const s = countingSink();
    if (preEnded) s.sink.end();
    const before = s.ends();
    replay.attach(s.sink);
    req.end(body);
    await once(req, "end");
    await new Promise((r) => setImmediate(r));
    assert.equal(s.ends() - before, preEnded ? 0 : 1, name);
    assert.equal(s.got(), body, name);
  }
});

test("ReplayBody attached after the request ended replays the body and ends the sink once", async () => {
  const req = new PassThrough();
  const replay = new ReplayBody(req);
  req.end("xyz");
  req.resume();
  await once(req, "end");
  const s = countingSink();
  replay.attach(s.sink);
  assert.equal(s.ends(), 1);
  assert.equal(s.got(), "xyz");
  const t = countingSink();
  t.sink.end();
  replay.attach(t.sink);
  assert.equal(t.ends(), 1, "a sink ended already is not ended again");
});
