/**
 * grace: zero-downtime restarts for Node.js servers.
 *
 * - `gracehttp` serves servers with signal handling, hot restart and draining.
 * - `gracegrpc` serves a @grpc/grpc-js server the same way.
 * - `gracenet` is the fd inheritance underneath, for any `net.Server`.
 */
export * as gracehttp from './gracehttp.js';
export * as gracegrpc from './gracegrpc.js';
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
export type { WarmUpOptions, WarmUpRequest, WarmUpResponse, WarmUpSend } from './warm-up.js';
export type { Drainer } from './drain.js';
export type { GrpcServer } from './grpc.js';
export type { Graceful, GracefulEvents, ServeTarget, StopReason } from './serve.js';
export type { HealthOptions, HealthHandlerOptions, HealthHandler, HealthBody, CheckResult } from './health.js';
