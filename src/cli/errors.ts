/** Errors the CLI reports as one line and exit status 2 (bad input or usage). */

export class UsageError extends Error {
  override name = "UsageError";
}
