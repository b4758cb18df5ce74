import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { connectHeaders, formatForwarded, parseAuthority, parseForwarded } from "./headers.js";

describe("parseAuthority", () => {
  const cases: { in: string | undefined; want?: { ip: string; port: number }; err?: RegExp }[] = [
    { in: "10.0.0.1:8080", want: { ip: "10.0.0.1", port: 8080 } },
    { in: "[fd00::1]:443", want: { ip: "fd00::1", port: 443 } },
    { in: "[::ffff:10.0.0.1]:80", want: { ip: "10.0.0.1", port: 80 } },
    { in: undefined, err: /missing :authority/ },
    { in: "", err: /missing :authority/ },
    { in: "example.com:80", err: /not an IP address/ },
    { in: "10.0.0.1", err: /missing port/ },
    { in: "10.0.0.1:0", err: /out of range/ },
    { in: "10.0.0.1:65536", err: /out of range/ },
    { in: "fd00::1:80", err: /bracketed/ },
    { in: "10.0.0.1:http", err: /invalid port/ },
  ];
  for (const c of cases) {
    test(`${JSON.stringify(c.in)} ${c.want ? "parses" : "is rejected"}`, () => {
      const r = parseAuthority(c.in);
      if (c.want) {
        assert.ok(r.ok);
        assert.deepEqual(r.value, c.want);
      } else {
        assert.ok(!r.ok);
        assert.match(r.error.message, c.err!);
        assert.match(r.error.message, /^hbone request: /);
      }
    });
  }
});

describe("forwarded header", () => {
  test("formats for= quoted, and host as a token or quoted", () => {
    assert.equal(formatForwarded({ ip: "10.0.0.1", port: 4000 }), 'for="10.0.0.1:4000"');
    assert.equal(
      formatForwarded({ ip: "fd00::1", port: 4000 }, "svc.ns.svc.cluster.local"),
      'for="[fd00::1]:4000";host=svc.ns.svc.cluster.local',
    );
    assert.equal(formatForwarded({ ip: "10.0.0.1", port: 1 }, 'a b"c'), 'for="10.0.0.1:1";host="a b\\"c"');
  });

  const parses: { in: string | string[] | undefined; want: object }[] = [
    { in: undefined, want: {} },
    { in: 'for="10.0.0.1:4000"', want: { for: { ip: "10.0.0.1", port: 4000 } } },
    { in: 'for="[fd00::1]:4000";host=svc.ns', want: { for: { ip: "fd00::1", port: 4000 }, host: "svc.ns" } },
    { in: 'For="10.0.0.1:1";HOST="x y", for="10.0.0.2:2"', want: { for: { ip: "10.0.0.1", port: 1 }, host: "x y" } },
    { in: "for=unknown;host=h", want: { host: "h" } },
    { in: "for=10.0.0.1", want: {} },
    { in: ['for="10.0.0.3:3"', 'for="10.0.0.4:4"'], want: { for: { ip: "10.0.0.3", port: 3 } } },
    { in: "garbage;;=;", want: {} },
  ];
  for (const c of parses) {
    test(`parses ${JSON.stringify(c.in)} leniently`, () => assert.deepEqual(parseForwarded(c.in), c.want));
  }

  test("round-trips what the client writes", () => {
    const v = formatForwarded({ ip: "10.1.2.3", port: 55 }, "reviews.default.svc.cluster.local");
    assert.deepEqual(parseForwarded(v), { for: { ip: "10.1.2.3", port: 55 }, host: "reviews.default.svc.cluster.local" });
  });
});

describe("connectHeaders", () => {
  test("builds a CONNECT with the target authority and optional headers", () => {
    const r = connectHeaders({
      target: { ip: "10.0.0.9", port: 9080 },
      forwardedFor: { ip: "10.0.0.1", port: 1234 },
      traceparent: "00-abc-def-01",
      baggage: "a=b",
    });
    assert.ok(r.ok);
    assert.deepEqual(r.value, {
      ":method": "CONNECT",
      ":authority": "10.0.0.9:9080",
      forwarded: 'for="10.0.0.1:1234"',
      traceparent: "00-abc-def-01",
      baggage: "a=b",
    });
  });

  test("omits what is not given", () => {
    const r = connectHeaders({ target: { ip: "fd00::9", port: 80 } });
    assert.ok(r.ok);
    assert.deepEqual(r.value, { ":method": "CONNECT", ":authority": "[fd00::9]:80" });
  });

  for (const field of ["traceparent", "baggage", "host"] as const) {
    test(`rejects a ${field} with CR/LF, naming the field`, () => {
      const r = connectHeaders({ target: { ip: "10.0.0.9", port: 80 }, forwardedFor: { ip: "10.0.0.1", port: 1 }, [field]: "x\r\ny: z" });
      assert.ok(!r.ok);
      assert.match(r.error.message, new RegExp(`hbone request: ${field}:`));
    });
  }
});
