/**
 * HBONE tunables with upstream ztunnel's defaults (istio-ambient-facts.md, "HBONE"), in one
 * frozen record per component. Tests shorten the timers; production uses the defaults.
 * Pure: validation returns a Result naming the offending field.
 */
import type { Settings as H2Settings } from "node:http2";
import { type Result, ok, err } from "../../common/result.js";

export const HBONE_PORT = 15008;
export const MiB = 1024 * 1024;

export interface HboneSettings {
  /** SETTINGS_INITIAL_WINDOW_SIZE we advertise: per-stream receive window. */
  readonly streamWindowBytes: number;
  /** Connection-level receive window (WINDOW_UPDATE on stream 0). */
  readonly connectionWindowBytes: number;
  /** SETTINGS_MAX_FRAME_SIZE we accept. */
  readonly maxFrameBytes: number;
  /** Server: SETTINGS_MAX_CONCURRENT_STREAMS. */
  readonly serverMaxConcurrentStreams: number;
  /** Pool: streams multiplexed on one connection before another is opened. */
  readonly poolMaxStreamsPerConnection: number;
  /** Pool: a connection without streams for this long is closed. */
  readonly poolIdleTimeoutMs: number;
  /** PING interval on an HBONE connection; 0 disables keepalive. */
  readonly pingIntervalMs: number;
  /** A PING unanswered for this long drops the connection. */
  readonly pingTimeoutMs: number;
  /** Client: TCP connect deadline. */
  readonly connectTimeoutMs: number;
  /** Both sides: TLS handshake + HTTP/2 preface deadline. */
  readonly handshakeTimeoutMs: number;
  /** Node's per-session memory cap (MB); must exceed the connection window or big windows stall. */
  readonly maxSessionMemoryMb: number;
  /** Server: upstream dials one client connection may cause at once (token bucket capacity). */
  readonly connectBurst: number;
  /** Server: sustained upstream dials per second per client connection; past it, REFUSED_STREAM. */
  readonly connectsPerSecond: number;
  /** Server: streams a client may reset before their answer, at once (rapid reset, CVE-2023-44487). */
  readonly earlyResetBurst: number;
  /** Server: sustained such resets per second; past it, GOAWAY(ENHANCE_YOUR_CALM). */
  readonly earlyResetsPerSecond: number;
  /** Both: how long a session has to answer a PING after a peer protocol error (session-guard.ts). */
  readonly protocolProbeTimeoutMs: number;
}

export const DEFAULT_HBONE_SETTINGS: HboneSettings = Object.freeze({
  streamWindowBytes: 4 * MiB,
  connectionWindowBytes: 16 * MiB,
  maxFrameBytes: 1 * MiB,
  serverMaxConcurrentStreams: 200,
  poolMaxStreamsPerConnection: 100,
  poolIdleTimeoutMs: 5 * 60_000,
  pingIntervalMs: 10_000,
  pingTimeoutMs: 20_000,
  connectTimeoutMs: 10_000,
  handshakeTimeoutMs: 10_000,
  maxSessionMemoryMb: 64,
  connectBurst: 1000,
  connectsPerSecond: 1000,
  earlyResetBurst: 100,
  earlyResetsPerSecond: 10,
  protocolProbeTimeoutMs: 2000,
});

// HTTP/2 bounds (RFC 9113 section 6.5.2) and sane positive ranges for the timers.
const BOUNDS: { readonly [K in keyof HboneSettings]: readonly [number, number] } = {
  streamWindowBytes: [65_535, 2 ** 31 - 1],
  connectionWindowBytes: [65_535, 2 ** 31 - 1],
  maxFrameBytes: [16_384, 2 ** 24 - 1],
  serverMaxConcurrentStreams: [1, 2 ** 31 - 1],
  poolMaxStreamsPerConnection: [1, 2 ** 31 - 1],
  poolIdleTimeoutMs: [1, 2 ** 31 - 1],
  pingIntervalMs: [0, 2 ** 31 - 1],
  pingTimeoutMs: [1, 2 ** 31 - 1],
  connectTimeoutMs: [1, 2 ** 31 - 1],
  handshakeTimeoutMs: [1, 2 ** 31 - 1],
  maxSessionMemoryMb: [1, 4096],
  connectBurst: [1, 2 ** 31 - 1],
  connectsPerSecond: [1, 2 ** 31 - 1],
  earlyResetBurst: [1, 2 ** 31 - 1],
  earlyResetsPerSecond: [0, 2 ** 31 - 1],
  protocolProbeTimeoutMs: [1, 2 ** 31 - 1],
};

/** Defaults overlaid with `overrides`; every field checked to be an integer in range. */
export function resolveSettings(overrides: Partial<HboneSettings> = {}): Result<HboneSettings> {
  const merged: Record<string, number> = { ...DEFAULT_HBONE_SETTINGS };
  for (const [name, value] of Object.entries(overrides)) {
    if (value === undefined) continue;
    const bounds = BOUNDS[name as keyof HboneSettings];
    if (!bounds) return err(new Error(`hbone settings: unknown field ${JSON.stringify(name)}`));
    if (typeof value !== "number" || !Number.isInteger(value) || value < bounds[0] || value > bounds[1]) {
      return err(new Error(`hbone settings: ${name}: ${JSON.stringify(value)} is not an integer in ${bounds[0]}..${bounds[1]}`));
    }
    merged[name] = value;
  }
  return ok(Object.freeze(merged as unknown as HboneSettings));
}

/** Like resolveSettings but throws: for constructors, where bad settings are a programming error. */
export function settingsOrThrow(overrides: Partial<HboneSettings> | undefined): HboneSettings {
  const r = resolveSettings(overrides);
  if (!r.ok) throw r.error;
  return r.value;
}

/** The HTTP/2 SETTINGS frame both sides send. */
export function h2Settings(s: HboneSettings, server: boolean): H2Settings {
  return {
    initialWindowSize: s.streamWindowBytes,
    maxFrameSize: s.maxFrameBytes,
    enablePush: false,
    ...(server ? { maxConcurrentStreams: s.serverMaxConcurrentStreams } : {}),
  };
}
