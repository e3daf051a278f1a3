/**
 * Errors a user can cause (bad spec, bad file, bad flag). The CLI prints `message` (and `help`
 * lines) without a stack trace and exits 1. Anything else that escapes is an internal error: exit 2.
 */
export class UserError extends Error {
  constructor(
    message: string,
    readonly help: readonly string[] = [],
  ) {
    super(message);
    this.name = 'UserError';
  }
}

/** A file-related user error: always names the path and the reason. */
export const fileError = (path: string, reason: string, help: readonly string[] = []): UserError =>
  new UserError(`${path}: ${reason}`, help);
