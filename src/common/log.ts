/**
 * Structured logging: one pino root, one child logger per module with a `component` field
 * (style guide, "Comments"). Level from WEFT_LOG (default info); tests default to warn so
 * their output stays readable.
 *
 * Lines go to stdout (a component's container log) until `logToStderr()`: the CLI calls it for
 * every operator verb, whose stdout is its output (`-o json`, a table, the CNI result).
 */
import pino from "pino";

const defaultLevel = process.env.WEFT_LOG ?? (process.env.NODE_TEST_CONTEXT ? "warn" : "info");

type Sink = { write(line: string): unknown };
let sink: Sink | undefined;
/** pino writes through this, so the destination can change after loggers were made. */
const switchable: Sink = { write: (line) => (sink ??= pino.destination({ dest: 1, sync: false })).write(line) };

/** From now on log lines go to stderr (synchronously: a one-shot verb may exit right after its last line). */
export function logToStderr(): void {
  sink = pino.destination({ dest: 2, sync: true });
}

export const rootLogger = pino(
  {
    level: defaultLevel,
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
  },
  switchable,
);

export type Logger = pino.Logger;

/** A child logger for one module: `logger("ztunnel.inbound")`. */
export function logger(component: string): Logger {
  return rootLogger.child({ component });
}
