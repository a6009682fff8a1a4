/**
 * grace: zero-downtime restarts for Node.js servers.
 *
 * - `gracehttp` serves servers with signal handling, hot restart and draining.
 * - `gracegrpc` serves a @grpc/grpc-js server the same way.
 * - `gracenet` is the fd inheritance underneath, for any `net.Server`.
 */
export * as gracehttp from './api/gracehttp.js';
export * as gracegrpc from './api/gracegrpc.js';
export * as gracenet from './api/gracenet.js';
export { GraceError, type GraceErrorCode } from './platform/errors.js';
export {
  Shutdown,
  PHASES,
  type Phase,
  type Closable,
  type RegisterOptions,
  type ShutdownOptions,
  type ShutdownReport,
  type ShutdownEvents,
} from './shutdown/shutdown.js';
export type { HandleSignalsOptions } from './shutdown/handle-signals.js';
export type { Logger } from './platform/logger.js';
export type { ListenSpec } from './sockets/listen-spec.js';
export type { ServeOptions } from './generation/options.js';
export type { WarmUpOptions, WarmUpRequest, WarmUpResponse, WarmUpSend } from './serving/warm-up.js';
export type { Drainer, LongLivedLeft } from './serving/drain.js';
export type { Pace } from './serving/close-pace.js';
export type { WebSocketServerLike, WebSocketClientLike, EngineClientLike } from './serving/web-sockets.js';
export type { GrpcServer } from './serving/grpc.js';
export type { Graceful, GracefulEvents, ServeTarget, StopReason } from './api/serve.js';
export type { HealthOptions, HealthHandlerOptions, HealthHandler, HealthBody, CheckResult } from './serving/health.js';
