/** A problem with what the user asked for: printed without a stack trace, exit 1. */
export class UserError extends Error {
  constructor(message: string, readonly exitCode = 1) {
    super(message);
  }
}

/** Ctrl-C / Esc at a prompt: exit 130, nothing written. */
export class CancelledError extends Error {
  constructor() {
    super('Operation cancelled');
  }
}
