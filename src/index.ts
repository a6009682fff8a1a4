/**
 * grace: zero-downtime restarts for Node.js servers.
 *
 * - `gracehttp` serves servers with signal handling, hot restart and draining.
 * - `gracenet` is the fd inheritance underneath, for any `net.Server`.
 */
export * as gracehttp from './gracehttp.js';
export * as gracenet from './gracenet.js';
export { GraceError, type GraceErrorCode } from './errors.js';
export {
  Shutdown,
  PHASES,
  type Phase,
  type Closable,
  type RegisterOptions,
  type ShutdownOptions,
  type ShutdownReport,
  type ShutdownEvents,
} from './shutdown.js';
export type { Logger } from './logger.js';
export type { ListenSpec } from './listen-spec.js';
export type { ServeOptions } from './options.js';
export type { Graceful, GracefulEvents, ServeTarget, StopReason } from './serve.js';
