/**
 * grace: zero-downtime restarts for Node.js servers.
 *
 * - `gracehttp` serves servers with signal handling, hot restart and draining.
 * - `gracenet` is the fd inheritance underneath, for any `net.Server`.
 */
export * as gracehttp from './gracehttp.js';
export * as gracenet from './gracenet.js';
export { GraceError, type GraceErrorCode } from './errors.js';
export type { Logger } from './logger.js';
export type { ListenSpec } from './listen-spec.js';
