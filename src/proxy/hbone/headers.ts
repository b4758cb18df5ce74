/**
 * The HBONE request as headers, both directions: what the client puts on a CONNECT
 * (`:authority` = target ip:port, `forwarded: for="ip:port";host=...`, `traceparent`,
 * `baggage`) and what the server reads back. Pure.
 *
 * Invariant: an authority is always a literal `ip:port` / `[ipv6]:port` (never a hostname):
 * HBONE targets a workload address, and the server answers 400 to anything else.
 */
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from "node:http2";
import { type Result, ok, err } from "../../common/result.js";
import { type SocketAddress, formatAddress, parseAddress } from "../../common/net/addr.js";

/** What a client asks an HBONE server for. */
export interface TunnelRequest {
  /** The workload address to reach (becomes `:authority`). */
  readonly target: SocketAddress;
  /** The original client of the tunnelled connection (`forwarded: for=`). */
  readonly forwardedFor?: SocketAddress;
  /** Service hostname when the client targeted a service (`forwarded: ...;host=`). */
  readonly host?: string;
  /** W3C trace context of the connection, passed through verbatim. */
  readonly traceparent?: string;
  /** W3C baggage, passed through verbatim. */
  readonly baggage?: string;
}

// Token characters of RFC 9110 section 5.6.2: a host value outside this set must be quoted.
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
// Header values must not smuggle CR/LF/NUL (HTTP/2 rejects them; say so before sending).
const BAD_VALUE = /[\r\n\0]/;

function quote(v: string): string {
  return `"${v.replace(/["\\]/g, (c) => `\\${c}`)}"`;
}

/** `for="10.0.0.1:4000";host=svc.ns.svc.cluster.local` (RFC 7239). */
export function formatForwarded(forwardedFor: SocketAddress, host?: string): string {
  const base = `for=${quote(formatAddress(forwardedFor))}`;
  if (host === undefined) return base;
  return `${base};host=${TOKEN.test(host) ? host : quote(host)}`;
}

/** Headers of the CONNECT request, validated; an error names the field. */
export function connectHeaders(req: TunnelRequest): Result<OutgoingHttpHeaders> {
  const headers: OutgoingHttpHeaders = { ":method": "CONNECT", ":authority": formatAddress(req.target) };
  if (req.forwardedFor) headers["forwarded"] = formatForwarded(req.forwardedFor, req.host);
  for (const name of ["host", "traceparent", "baggage"] as const) {
    const v = req[name];
    if (v !== undefined && (v === "" || BAD_VALUE.test(v))) {
      return err(new Error(`hbone request: ${name}: ${JSON.stringify(v)} is empty or contains CR, LF or NUL`));
    }
  }
  if (req.traceparent !== undefined) headers["traceparent"] = req.traceparent;
  if (req.baggage !== undefined) headers["baggage"] = req.baggage;
  return ok(headers);
}

/** The target of a CONNECT: literal `ip:port` only. */
export function parseAuthority(authority: string | undefined): Result<SocketAddress> {
  if (authority === undefined || authority === "") return err(new Error("hbone request: missing :authority"));
  const a = parseAddress(authority);
  if (!a.ok) return err(new Error(`hbone request: :authority: ${a.error.message}`));
  return a;
}

/** What the server learns from a CONNECT's `forwarded` header (first element only). */
export interface ForwardedInfo {
  readonly for?: SocketAddress;
  readonly host?: string;
}

function unquote(v: string): string {
  return v.startsWith('"') && v.endsWith('"') && v.length >= 2 ? v.slice(1, -1).replace(/\\(.)/g, "$1") : v;
}

/**
 * Parses the first element of a `forwarded` header. Unknown parameters are ignored; a `for`
 * that is not `ip:port` (e.g. `unknown`, an obfuscated name, a bare IP) is left out rather
 * than failing the request, since the header is informational.
 */
export function parseForwarded(value: string | string[] | undefined): ForwardedInfo {
  const text = Array.isArray(value) ? value[0] : value;
  if (!text) return {};
  const first = text.split(",")[0]!;
  let forAddr: SocketAddress | undefined;
  let host: string | undefined;
  for (const pair of first.split(";")) {
    const eq = pair.indexOf("=");
    if (eq < 0) continue;
    const key = pair.slice(0, eq).trim().toLowerCase();
    const val = unquote(pair.slice(eq + 1).trim());
    if (key === "for") {
      const a = parseAddress(val);
      if (a.ok) forAddr = a.value;
    } else if (key === "host" && val !== "") {
      host = val;
    }
  }
  return { ...(forAddr ? { for: forAddr } : {}), ...(host !== undefined ? { host } : {}) };
}

/** A single-valued header as a string (HTTP/2 may hand arrays for repeated fields). */
export function headerValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}
