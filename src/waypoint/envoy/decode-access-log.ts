/**
 * HttpConnectionManager `access_log` (config.accesslog.v3.AccessLog, repeated): the loggers
 * weft's waypoint writes, as istiod configures them (docs/waypoint.md "Telemetry"). Supported:
 * `envoy.access_loggers.file` (FileAccessLog: `path`; `/dev/stdout` is the waypoint's stdout, any
 * other absolute path a file the lines are appended to) and `envoy.access_loggers.stdout`
 * (StdoutAccessLog). `log_format`: `json_format` gives JSON lines, `text_format_source` /
 * `text_format` or none gives TEXT lines; weft writes its own fields in that encoding (Istio's
 * default format), not a custom format string or label set (documented difference). An access
 * log `filter`, another logger, or the deprecated FileAccessLog format fields are NACKed. No
 * entry: no access log (Istio's default). Pure.
 */
import {
  FILE_ACCESS_LOG_NAME,
  FILE_ACCESS_LOG_TYPE_URL,
  STDOUT_ACCESS_LOG_NAME,
  STDOUT_ACCESS_LOG_TYPE_URL,
} from "../../common/xds/envoy-proto.js";
import { unpackAny } from "./any.js";
import { type Decoding, type Obj, join, obj, str } from "./fields.js";
import type { AccessLogTarget } from "./types.js";

export const STDOUT_PATH = "/dev/stdout";

export function decodeAccessLog(d: Decoding, list: unknown, path: string): AccessLogTarget[] | undefined {
  if (!Array.isArray(list)) {
    d.fail(path, "want a list of access loggers");
    return undefined;
  }
  const out: AccessLogTarget[] = [];
  list.forEach((v, i) => {
    const p = `${path}[${i}]`;
    const a = obj(v) ?? {};
    d.only(a, p, ["name", "typedConfig"]);
    const tc = unpackAny(d, a.typedConfig, join(p, "typed_config"));
    if (!tc) return;
    const cp = join(p, "typed_config");
    const name = str(a.name);
    if (tc.typeUrl === FILE_ACCESS_LOG_TYPE_URL && (name ?? FILE_ACCESS_LOG_NAME) === FILE_ACCESS_LOG_NAME) {
      d.only(tc.value, cp, ["path", "logFormat"]);
      const file = str(tc.value.path) ?? "";
      if (!file.startsWith("/")) return d.fail(join(cp, "path"), `${JSON.stringify(file)} is not an absolute path`);
      const encoding = logFormat(d, tc.value.logFormat, join(cp, "log_format"));
      if (encoding) out.push({ path: file, encoding });
    } else if (tc.typeUrl === STDOUT_ACCESS_LOG_TYPE_URL && (name ?? STDOUT_ACCESS_LOG_NAME) === STDOUT_ACCESS_LOG_NAME) {
      d.only(tc.value, cp, ["logFormat"]);
      const encoding = logFormat(d, tc.value.logFormat, join(cp, "log_format"));
      if (encoding) out.push({ path: STDOUT_PATH, encoding });
    } else
      d.fail(
        p,
        `access logger ${JSON.stringify(a.name)} (${tc.typeUrl}) is not supported (only ${FILE_ACCESS_LOG_NAME}, ${STDOUT_ACCESS_LOG_NAME})`,
      );
  });
  return out;
}

/** SubstitutionFormatString: JSON for `json_format`, TEXT otherwise (Envoy's default format is text). */
function logFormat(d: Decoding, v: unknown, path: string): AccessLogTarget["encoding"] | undefined {
  const f: Obj | undefined = obj(v);
  if (!f) return "TEXT";
  d.only(f, path, ["jsonFormat", "textFormatSource", "textFormat"], ["omitEmptyValues", "contentType", "jsonFormatOptions"]);
  if (f.jsonFormat !== undefined) return "JSON";
  const src = obj(f.textFormatSource);
  if (src) d.only(src, join(path, "text_format_source"), ["inlineString"]);
  return "TEXT";
}
