/**
 * Structured logging: one pino root, one child logger per module with a `component` field
 * (style guide, "Comments"). Level from WEFT_LOG (default info); tests default to warn so
 * their output stays readable.
 */
import pino from "pino";

const defaultLevel = process.env.WEFT_LOG ?? (process.env.NODE_TEST_CONTEXT ? "warn" : "info");

export const rootLogger = pino({
  level: defaultLevel,
  base: { pid: process.pid },
  timestamp: pino.stdTimeFunctions.isoTime,
});

export type Logger = pino.Logger;

/** A child logger for one module: `logger("ztunnel.inbound")`. */
export function logger(component: string): Logger {
  return rootLogger.child({ component });
}
