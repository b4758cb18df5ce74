/**
 * The one shape of weft's error families (CaError, CertError, IdentityError, HboneError, ...):
 * a stable `code` for programs (metrics labels, tests, status mapping), a lowercase
 * colon-chained message for operators, and the underlying error as `cause`. Each family is a
 * subclass that names its codes and sets `name`.
 */
export class CodedError<C extends string> extends Error {
  constructor(
    readonly code: C,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options?.cause !== undefined ? { cause: options.cause } : undefined);
  }
}
