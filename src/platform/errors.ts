/**
 * Stable error codes. Each names one kind of problem so callers can branch on
 * `err.code` instead of parsing messages.
 */
export type GraceErrorCode =
  | 'ERR_GRACE_LISTEN_FDS'
  | 'ERR_GRACE_STARTER_GONE'
  | 'ERR_GRACE_LISTEN_FDNAMES'
  | 'ERR_GRACE_INHERITED_FD'
  | 'ERR_GRACE_LISTEN_SPEC'
  | 'ERR_GRACE_ADDRESS_IN_USE'
  | 'ERR_GRACE_OPTIONS'
  | 'ERR_GRACE_RESTART_IN_PROGRESS'
  | 'ERR_GRACE_RESTART_FAILED'
  | 'ERR_GRACE_NOT_SERVING'
  | 'ERR_GRACE_UNSUPPORTED'
  | 'ERR_GRACE_READY'
  | 'ERR_GRACE_WARM_UP'
  | 'ERR_GRACE_PID_FILE'
  | 'ERR_GRACE_SCALE_FAILED'
  | 'ERR_GRACE_ENV_FILE'
  | 'ERR_GRACE_ENV_TOO_LARGE'
  | 'ERR_GRACE_STOP_TIMEOUT'
  | 'ERR_GRACE_USAGE';

/** Every error grace raises: an `Error` with a stable `code`. */
export class GraceError extends Error {
  readonly code: GraceErrorCode;

  constructor(code: GraceErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'GraceError';
    this.code = code;
  }
}
