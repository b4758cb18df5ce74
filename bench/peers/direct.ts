/**
 * The baseline: the client connects straight to the server over loopback, no proxy. Every other
 * row of the report is read as a ratio against this one.
 */
import { ok, type Result } from "../../src/common/result.js";
import type { Peer, RunningPeer } from "./peer.js";

/** Addresses inside the bench's own 127.0.50.0/24 block, distinct from the other peers' so that
 * TIME_WAIT sockets left by one peer never collide with the next peer's connections. */
const CLIENT = "127.0.50.30";
const SERVER = "127.0.50.33";
const SERVER_PORT = 5201;

export const directPeer: Peer = {
  name: "direct",
  start(): Promise<Result<RunningPeer>> {
    return Promise.resolve(
      ok({
        target: { host: SERVER, port: SERVER_PORT },
        clientAddress: CLIENT,
        upstream: { host: SERVER, port: SERVER_PORT },
        proxies: [],
        description: "plain TCP over loopback, no proxy",
        check: () => ok(undefined),
        stop: () => Promise.resolve(),
      }),
    );
  },
};
