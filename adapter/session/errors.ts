/**
 * Errors the session reports to the client. Handlers throw them; `toErrorMessage` (called from one place in the
 * session's request dispatch) turns any thrown value into a DAP error message with a stable id.
 */
import type { DebugProtocol } from '@vscode/debugprotocol';

export const ErrorCode = {
  /** The launch configuration is wrong (missing file, unknown format or preset, malformed image). */
  LaunchConfig: 1001,
  /** A request needs a launched session. */
  NotLaunched: 1002,
  /** A request needs the guest to be stopped. */
  NotStopped: 1003,
  /** The session has terminated. */
  Terminated: 1004,
  /** Bad request arguments (unknown variable, malformed expression, address). */
  InvalidArgument: 1005,
  /** A field or register cannot be written (read-only, reserved). */
  ReadOnly: 1006,
  /** Guest memory is not mapped at that address. */
  Unmapped: 1007,
  /** The request is not supported by this adapter. */
  Unsupported: 1008,
  /** An unexpected error inside the adapter (a bug). */
  Internal: 1999,
} as const;

export type ErrorCodeValue = (typeof ErrorCode)[keyof typeof ErrorCode];

export class SessionError extends Error {
  override readonly name = 'SessionError';
  constructor(
    readonly code: ErrorCodeValue,
    message: string,
    readonly showUser = true,
  ) {
    super(message);
  }
}

export function invalidArgument(message: string): SessionError {
  return new SessionError(ErrorCode.InvalidArgument, message);
}

export function toErrorMessage(error: unknown): DebugProtocol.Message {
  if (error instanceof SessionError) {
    return { id: error.code, format: error.message, showUser: error.showUser };
  }
  const text = error instanceof Error ? `${error.message}\n${error.stack ?? ''}` : String(error);
  return { id: ErrorCode.Internal, format: `internal error in the mmiodbg adapter: ${text}`, showUser: true };
}
