/**
 * A rejected xDS resource: which one, which field, why. Structurally the same as ztunnel's
 * state ResourceError (src/proxy/state/mutator.ts), so both the codec's and the state's
 * rejections travel together in one NACK. Pure.
 */
export interface ResourceError {
  /** Resource name: workload uid, service `namespace/hostname`, policy `namespace/name`. */
  readonly resource: string;
  /** Proto field path, e.g. `workload.addresses[1]`. */
  readonly field: string;
  readonly reason: string;
}

/** `resource: field: reason`, the form logs and NACK messages use. */
export function formatResourceError(e: ResourceError): string {
  return `${e.resource}: ${e.field}: ${e.reason}`;
}

/** One line per error, joined with "; " (the NACK error_detail message). */
export function formatResourceErrors(errors: readonly ResourceError[]): string {
  return errors.map(formatResourceError).join("; ");
}
