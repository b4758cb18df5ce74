import { test } from "node:test";
import assert from "node:assert/strict";
import { splitNodeOptions, tlsKeylogFile } from "./native-keylog.js";

test("tlsKeylogFile finds Node's --tls-keylog in NODE_OPTIONS and on the command line", () => {
  const cases: Array<[string[], string | undefined, string | undefined]> = [
    [[], undefined, undefined],
    [["--max-semi-space-size=1"], "--enable-source-maps", undefined],
    [[], "--tls-keylog=/tmp/k.log", "/tmp/k.log"],
    [[], "--enable-source-maps --tls-keylog=/tmp/a b.log", "/tmp/a"],
    [[], '--tls-keylog="/tmp/a b.log"', "/tmp/a b.log"],
    [["--tls-keylog", "/tmp/cli.log"], undefined, "/tmp/cli.log"],
    [["--tls-keylog=/tmp/cli.log"], "--tls-keylog=/tmp/env.log", "/tmp/cli.log"],
    [[], "--tls-keylog=", undefined],
    [["--tls-keylog"], undefined, undefined],
    [["--", "--tls-keylog=/tmp/x"], undefined, undefined],
  ];
  for (const [argv, env, want] of cases) assert.equal(tlsKeylogFile(argv, env), want, `${JSON.stringify(argv)} ${env}`);
});

test("splitNodeOptions splits on white space, groups double quotes and keeps escapes inside them", () => {
  assert.deepEqual(splitNodeOptions("  a  b\tc "), ["a", "b", "c"]);
  assert.deepEqual(splitNodeOptions('--x="a b" "c\\"d" ""'), ["--x=a b", 'c"d', ""]);
  assert.deepEqual(splitNodeOptions(""), []);
});
