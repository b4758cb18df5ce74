/**
 * Plaintext protocol detection on a tunnel's first bytes, as Envoy's HTTP inspector listener
 * filter reports it (`application_protocols` of filter_chain_match), pure: `h2c` for the HTTP/2
 * connection preface, `http/1.1` / `http/1.0` for an HTTP/1.x request line (method token, one
 * space, a request target without spaces or control bytes, one space, `HTTP/1.x`, CRLF),
 * "none" as soon as the bytes cannot be either, undefined while they still might. Like Envoy,
 * a request line longer than MAX_INSPECT bytes counts as not HTTP.
 */

export type Detected = "h2c" | "http/1.1" | "http/1.0" | "none";

export const MAX_INSPECT = 8192;

const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
const TCHAR = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

export function inspectProtocol(buf: Buffer): Detected | undefined {
  if (buf.length === 0) return undefined;
  const n = Math.min(buf.length, PREFACE.length);
  if (buf.subarray(0, n).equals(PREFACE.subarray(0, n))) return n === PREFACE.length ? "h2c" : undefined;
  const nl = buf.indexOf(0x0a);
  const line = buf.subarray(0, nl < 0 ? Math.min(buf.length, MAX_INSPECT) : nl).toString("latin1");
  if (nl < 0 && buf.length >= MAX_INSPECT) return "none";
  return requestLine(line.endsWith("\r") ? line.slice(0, -1) : line, nl >= 0);
}

/** Whether `line` is (complete) or may still become (incomplete) an HTTP/1.x request line. */
function requestLine(line: string, complete: boolean): Detected | undefined {
  const sp1 = line.indexOf(" ");
  const method = sp1 < 0 ? line : line.slice(0, sp1);
  if (method && !TCHAR.test(method)) return "none";
  if (sp1 < 0) return complete ? "none" : undefined;
  if (!method) return "none";
  const rest = line.slice(sp1 + 1);
  const sp2 = rest.indexOf(" ");
  const target = sp2 < 0 ? rest : rest.slice(0, sp2);
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x20\x7f]/.test(target)) return "none";
  if (sp2 < 0) return complete ? "none" : undefined;
  if (!target) return "none";
  const version = rest.slice(sp2 + 1);
  for (const v of ["HTTP/1.1", "HTTP/1.0"] as const) {
    if (version === v) return complete ? (v === "HTTP/1.1" ? "http/1.1" : "http/1.0") : undefined;
    if (!complete && v.startsWith(version)) return undefined;
  }
  return "none";
}
