/** Serving with hot restart and graceful stop. */
export { serve, start, Graceful, type ServeTarget, type GracefulEvents, type StopReason } from './serve.js';
export type { ServeOptions } from '../generation/options.js';
export { DEFAULTS } from '../generation/options.js';
export { health, type HealthOptions, type HealthHandlerOptions, type HealthHandler, type HealthBody, type CheckResult } from '../serving/health.js';
