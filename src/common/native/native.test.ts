/**
 * The addon through its TS wrapper: every function against the real kernel (loopback sockets,
 * a BPF hash map pinned under /sys/fs/bpf/wefttest-cap-unit-*). Setting IP_TRANSPARENT and
 * SO_MARK needs CAP_NET_ADMIN: those tests skip loudly when not root.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, rmSync } from "node:fs";
import * as net from "node:net";
import { after, test } from "node:test";
import { ensureBpffs } from "../../capture/ebpf.js";
import {
  PinnedMap,
  connectTransparent,
  fdOf,
  listenTransparent,
  nativeAvailable,
  setMark,
  setTransparent,
  socketOptions,
} from "./native.js";

const missing = nativeAvailable();
const root = process.getuid?.() === 0;
const skip = !missing.ok
  ? `native addon not built: ${missing.error.message}`
  : !root
    ? "needs root: IP_TRANSPARENT, SO_MARK and bpf() need CAP_NET_ADMIN"
    : undefined;
if (skip) console.warn(`!! SKIPPING native addon tests: ${skip}`);

const listening = (s: net.Server): Promise<void> => new Promise((r) => s.listen({ host: "127.0.0.1", port: 0 }, r));
const closed = (s: net.Server): Promise<void> => new Promise((r) => s.close(() => r()));

void test("a missing addon is reported with a hint to build it", () => {
  const out = execFileSync(
    process.execPath,
    [
      "-e",
      `const n=require(${JSON.stringify(require.resolve("./native.js"))});const r=n.nativeAvailable();console.log(JSON.stringify({ok:r.ok,code:r.error&&r.error.code,msg:r.error&&r.error.message}))`,
    ],
    {
      env: { ...process.env, WEFT_NATIVE_ADDON: "/nonexistent/weft_native.node" },
    },
  ).toString();
  const r = JSON.parse(out) as { ok: boolean; code: string; msg: string };
  assert.equal(r.ok, false);
  assert.equal(r.code, "ENOADDON");
  assert.match(r.msg, /run scripts\/setup\.sh/);
});

void test("IP_TRANSPARENT and SO_MARK are set on, and read back from, a Node server's fd", { skip }, async () => {
  const server = net.createServer();
  await listening(server);
  try {
    const fd = fdOf(server)!;
    assert.ok(fd >= 0);
    assert.deepEqual(socketOptions(fd), { ok: true, value: { transparent: false, mark: 0 } });
    assert.equal(setTransparent(fd).ok, true);
    assert.equal(setMark(fd, 0x539).ok, true);
    assert.deepEqual(socketOptions(fd), { ok: true, value: { transparent: true, mark: 0x539 } });
    assert.equal(setTransparent(fd, false).ok, true);
    assert.equal((socketOptions(fd) as { value: { transparent: boolean } }).value.transparent, false);
  } finally {
    await closed(server);
  }
});

void test("socket option calls on a bad fd are errors with the errno code, not exceptions", { skip }, () => {
  const r = setMark(987654, 1);
  assert.equal(r.ok, false);
  assert.equal(!r.ok && r.error.code, "EBADF");
  assert.match(!r.ok ? r.error.message : "", /set SO_MARK: setsockopt\(SO_MARK\)/);
});

void test("a transparent listener is a Node server with the option and mark on it and on accepted sockets", { skip }, async () => {
  const accepted: Array<{ transparent: boolean; mark: number }> = [];
  const srv = await listenTransparent({ host: "127.0.0.1", port: 0, mark: 0x539 }, (s) => {
    const o = socketOptions(fdOf(s)!);
    if (o.ok) accepted.push(o.value);
    s.end("hi\n");
  });
  assert.equal(srv.ok, true);
  if (!srv.ok) return;
  try {
    assert.deepEqual(socketOptions(fdOf(srv.value)!), { ok: true, value: { transparent: true, mark: 0x539 } });
    const port = (srv.value.address() as net.AddressInfo).port;
    const data = await new Promise<string>((resolve, reject) => {
      const c = net.connect({ host: "127.0.0.1", port });
      let buf = "";
      c.on("data", (d: Buffer) => (buf += d.toString()));
      c.on("end", () => resolve(buf));
      c.on("error", reject);
    });
    assert.equal(data, "hi\n");
    assert.deepEqual(accepted, [{ transparent: true, mark: 0x539 }]);
  } finally {
    await closed(srv.value);
  }
});

void test("a transparent listener on a taken port fails with EADDRINUSE", { skip }, async () => {
  const plain = net.createServer();
  await listening(plain);
  try {
    const r = await listenTransparent({ host: "127.0.0.1", port: (plain.address() as net.AddressInfo).port });
    assert.equal(r.ok, false);
    assert.equal(!r.ok && r.error.code, "EADDRINUSE");
  } finally {
    await closed(plain);
  }
});

void test("a transparent connection binds the chosen source, carries the mark, and is a working net.Socket", { skip }, async () => {
  let seen = "";
  const server = net.createServer((s) => {
    seen = `${s.remoteAddress}`;
    s.pipe(s);
  });
  await listening(server);
  try {
    const port = (server.address() as net.AddressInfo).port;
    const r = await connectTransparent({
      source: { ip: "127.0.0.7" },
      destination: { ip: "127.0.0.1", port },
      mark: 0x539,
      timeoutMs: 2000,
    });
    assert.equal(r.ok, true, !r.ok ? r.error.message : "");
    if (!r.ok) return;
    const sock = r.value;
    assert.deepEqual(socketOptions(fdOf(sock)!), { ok: true, value: { transparent: true, mark: 0x539 } });
    const echoed = await new Promise<string>((resolve) => {
      sock.once("data", (d: Buffer) => resolve(d.toString()));
      sock.write("ping");
    });
    sock.destroy();
    assert.equal(echoed, "ping");
    assert.equal(seen, "127.0.0.7");
  } finally {
    await closed(server);
  }
});

void test("a transparent connection to a closed port is an ECONNREFUSED result", { skip }, async () => {
  const server = net.createServer();
  await listening(server);
  const port = (server.address() as net.AddressInfo).port;
  await closed(server);
  const r = await connectTransparent({ source: { ip: "127.0.0.1" }, destination: { ip: "127.0.0.1", port }, timeoutMs: 2000 });
  assert.equal(r.ok, false);
  assert.equal(!r.ok && r.error.code, "ECONNREFUSED");
});

void test("IPv6: a transparent [::] listener (IPV6_V6ONLY) and a 0.0.0.0 one share a port, each taking its family", { skip }, async () => {
  const seen: string[] = [];
  const v4 = await listenTransparent({ host: "0.0.0.0", port: 0, mark: 0x539 }, (s) => {
    seen.push(`v4 ${s.localAddress}`);
    s.end("4\n");
  });
  assert.ok(v4.ok, !v4.ok ? v4.error.message : "");
  if (!v4.ok) return;
  const port = (v4.value.address() as net.AddressInfo).port;
  const v6 = await listenTransparent({ host: "::", port, mark: 0x539 }, (s) => {
    const o = socketOptions(fdOf(s)!);
    seen.push(`v6 ${s.localAddress} ${o.ok ? `${o.value.transparent} ${o.value.mark}` : o.error.message}`);
    s.end("6\n");
  });
  try {
    assert.ok(v6.ok, !v6.ok ? v6.error.message : "");
    if (!v6.ok) return;
    assert.deepEqual(socketOptions(fdOf(v6.value)!), { ok: true, value: { transparent: true, mark: 0x539 } });
    const get = (host: string): Promise<string> =>
      new Promise((resolve, reject) => {
        const c = net.connect({ host, port });
        let buf = "";
        c.on("data", (d: Buffer) => (buf += d.toString()));
        c.on("end", () => resolve(buf));
        c.on("error", reject);
      });
    assert.equal(await get("::1"), "6\n");
    assert.equal(await get("127.0.0.1"), "4\n");
    assert.deepEqual(seen, [`v6 ::1 true ${0x539}`, "v4 127.0.0.1"]);
  } finally {
    if (v6.ok) await closed(v6.value);
    await closed(v4.value);
  }
});

void test("IPv6: a transparent connection is an IPv6 socket with IPV6_TRANSPARENT and the mark", { skip }, async () => {
  let seen = "";
  const server = net.createServer((s) => {
    seen = `${s.remoteAddress}`;
    s.pipe(s);
  });
  await new Promise<void>((r) => server.listen({ host: "::1", port: 0, ipv6Only: true }, r));
  try {
    const port = (server.address() as net.AddressInfo).port;
    const r = await connectTransparent({ source: { ip: "::1" }, destination: { ip: "::1", port }, mark: 0x539, timeoutMs: 2000 });
    assert.ok(r.ok, !r.ok ? r.error.message : "");
    if (!r.ok) return;
    assert.deepEqual(socketOptions(fdOf(r.value)!), { ok: true, value: { transparent: true, mark: 0x539 } });
    const echoed = await new Promise<string>((resolve) => {
      r.value.once("data", (d: Buffer) => resolve(d.toString()));
      r.value.write("ping6");
    });
    r.value.destroy();
    assert.equal(echoed, "ping6");
    assert.equal(seen, "::1");
    const mixed = await connectTransparent({ source: { ip: "127.0.0.1" }, destination: { ip: "::1", port }, timeoutMs: 2000 });
    assert.equal(mixed.ok, false);
    assert.match(!mixed.ok ? mixed.error.message : "", /one address family/);
  } finally {
    await closed(server);
  }
});

const pin = `/sys/fs/bpf/wefttest-cap-unit-${process.pid}`;
after(() => rmSync(pin, { force: true }));

void test(
  "pinned map: update, lookup, keys and delete through bpf()",
  { skip: skip ?? (existsSync("/sys/fs/bpf") ? undefined : "no BPF filesystem") },
  async () => {
    const fs = await ensureBpffs();
    assert.equal(fs.ok, true, !fs.ok ? fs.error.message : "");
    execFileSync("bpftool", ["map", "create", pin, "type", "hash", "key", "4", "value", "4", "entries", "16", "name", "wefttest_unit"]);
    const m = PinnedMap.open(pin, 4, 4);
    assert.equal(m.ok, true);
    if (!m.ok) return;
    try {
      const k1 = Buffer.from([198, 19, 1, 2]);
      const k2 = Buffer.from([198, 19, 1, 3]);
      assert.deepEqual(m.value.lookup(k1), { ok: true, value: undefined });
      assert.equal(m.value.update(k1, Buffer.from([1, 0, 0, 0])).ok, true);
      assert.equal(m.value.update(k2, Buffer.from([2, 0, 0, 0])).ok, true);
      assert.deepEqual(m.value.lookup(k1), { ok: true, value: Buffer.from([1, 0, 0, 0]) });
      const keys = m.value.keys();
      assert.equal(keys.ok, true);
      assert.deepEqual((keys.ok ? keys.value : []).map((k) => k.toString("hex")).sort(), [k1, k2].map((k) => k.toString("hex")).sort());
      const noexist = m.value.update(k1, Buffer.from([3, 0, 0, 0]), 1);
      assert.equal(!noexist.ok && noexist.error.code, "EEXIST");
      assert.deepEqual(m.value.delete(k1), { ok: true, value: true });
      assert.deepEqual(m.value.delete(k1), { ok: true, value: false });
      const badKey = m.value.update(Buffer.from([1]), Buffer.from([1, 0, 0, 0]));
      assert.equal(!badKey.ok && badKey.error.code, "EINVAL");
    } finally {
      m.value.close();
    }
  },
);

void test("opening a pin that does not exist is an ENOENT result", { skip }, () => {
  const r = PinnedMap.open("/sys/fs/bpf/wefttest-cap-unit-missing", 4, 4);
  assert.equal(r.ok, false);
  assert.equal(!r.ok && r.error.code, "ENOENT");
});
