/**
 * What route selection sees of a request: method, host, path (with the query), and the
 * headers as Envoy's matchers see them (lower-case names, several values joined with ",").
 * Built once per request from Node's headers; pure.
 */
export interface RequestFacts {
  readonly method: string;
  /** `:authority` / Host, as sent. */
  readonly authority: string;
  /** `:path` as sent: path plus optional `?query`. */
  readonly path: string;
  readonly scheme: string;
  /** Lower-case name -> values (Node gives arrays for repeated headers, set-cookie aside). */
  readonly headers: Readonly<Record<string, string | readonly string[] | undefined>>;
  /** The downstream client's IP (hash_policy connection_properties.source_ip). */
  readonly sourceIp?: string;
}

/** The header as Envoy's HeaderMatcher sees it; pseudo-headers from the request line. */
export function headerValue(req: RequestFacts, name: string): string | undefined {
  switch (name) {
    case ":method":
      return req.method;
    case ":path":
      return req.path;
    case ":authority":
    case "host":
      return req.authority;
    case ":scheme":
      return req.scheme;
  }
  const v = req.headers[name];
  if (v === undefined) return undefined;
  return typeof v === "string" ? v : v.join(",");
}

/** The path without the query string (what prefix/path/regex match against). */
export function pathOnly(path: string): string {
  const q = path.search(/[?#]/);
  return q < 0 ? path : path.slice(0, q);
}

/** The query string without `?` ("" if none). */
export function queryOf(path: string): string {
  const h = path.indexOf("#");
  const p = h < 0 ? path : path.slice(0, h);
  const q = p.indexOf("?");
  return q < 0 ? "" : p.slice(q + 1);
}

/** First value of each query parameter, percent-decoded (Envoy's parseAndDecodeQueryString); `+` stays `+`. */
export function queryParams(path: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of queryOf(path).split("&")) {
    if (!part) continue;
    const eq = part.indexOf("=");
    const k = decode(eq < 0 ? part : part.slice(0, eq));
    if (!out.has(k)) out.set(k, decode(eq < 0 ? "" : part.slice(eq + 1)));
  }
  return out;
}

function decode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
