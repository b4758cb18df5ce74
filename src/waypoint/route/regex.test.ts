import { test } from "node:test";
import assert from "node:assert/strict";
import { compileRe2, re2Replace } from "./regex.js";

test("regex: safe_regex matches the whole value, as RE2::FullMatch", () => {
  const cases: Array<[string, string, boolean]> = [
    ["/api/v[0-9]+", "/api/v12", true],
    ["/api/v[0-9]+", "/api/v12/x", false],
    ["/api/v[0-9]+", "x/api/v1", false],
    ["a|b", "a", true],
    ["a|b", "ab", false],
    ["(?i)/Foo", "/fOO", true],
    ["(?P<ver>v[0-9])/.*", "v1/x", true],
    ["\\A/x\\z", "/x", true],
  ];
  for (const [pattern, input, want] of cases) {
    const r = compileRe2(pattern);
    assert.ok(r.ok, pattern);
    assert.equal(r.value.full.test(input), want, `${pattern} on ${input}`);
  }
});

test("regex: what RE2 does not have is rejected, naming why", () => {
  for (const [pattern, why] of [
    ["/a(?=b)", /lookaround/],
    ["(?<!x)y", /lookaround/],
    ["(a)\\1", /backreference/],
    ["[[:alpha:]]", /POSIX/],
    ["(?U)a+", /ungreedy/],
    ["(unclosed", /Unterminated|Invalid/i],
  ] as const) {
    const r = compileRe2(pattern);
    assert.ok(!r.ok, pattern);
    assert.match(r.error.message, why);
  }
});

test("regex: substitution replaces every match and understands \\N groups", () => {
  const r = compileRe2("^/service/([^/]+)(/.*)$");
  assert.ok(r.ok);
  assert.equal(re2Replace(r.value.global, "/service/foo/v1/api", "\\2/instance/\\1"), "/v1/api/instance/foo");
  const d = compileRe2("o");
  assert.ok(d.ok);
  assert.equal(re2Replace(d.value.global, "foo", "0$"), "f0$0$");
});
