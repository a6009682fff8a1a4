import type { EventEmitter } from 'node:events';
import type { AddressInfo, Server } from 'node:net';
import type { Drainer } from '../serving/drain.js';
import type { GraceError } from '../platform/errors.js';
import type { Log } from '../platform/logger.js';
import type { ProcessHost } from '../platform/process-host.js';
import type { Starter } from '../platform/listen-env.js';
import type { StarterChannel } from '../protocol/ready-pipe.js';
import type { ListenSpec } from '../sockets/listen-spec.js';
import type { Listener, Net } from '../sockets/net.js';
import type { Shutdown } from '../shutdown/shutdown.js';
import type { StatusReporter } from '../reporting/status.js';
import type { LaunchedBy } from './launched-by.js';
import type { Lifecycle, LifecycleEvent, StopReason } from '../lifecycle/lifecycle.js';
import type { OwnerAction } from '../lifecycle/runner.js';
import type { ResolvedOptions } from './options.js';

/** One server and where it listens. */
export interface ServeTarget {
  server: Server;
  listen: ListenSpec;
  /**
   * How this server drains, in place of grace's HTTP drain. Set by
   * `gracegrpc.target`; an app serving http, https, http2 or net servers
   * leaves it out.
   */
  drainer?: Drainer;
}

/** Lifecycle events of a {@link Graceful}, with their payloads. */
export interface GracefulEvents {
  /**
   * Every server listens (on inherited or fresh sockets): after the ready
   * hook. Like `ready`, it happens inside start() and is emitted just after
   * start() resolves, so a listener attached right after `await start()` hears it.
   */
  listening: [{ pid: number; addresses: Array<AddressInfo | string> }];
  /** Serving; the previous generation, if any, was told to go. Emitted just after start() resolves. */
  ready: [{ pid: number; parentPid: number | undefined }];
  /** A next generation was spawned. */
  restart: [{ pid: number }];
  /** A restart request was refused (one already in flight, or not serving). */
  'restart-refused': [GraceError];
  /** The next generation failed to become ready; this one keeps serving. */
  'restart-failed': [GraceError];
  /** The next generation is ready and serving; this one drains. */
  handover: [{ pid: number }];
  /** A stop began with a stop delay: still serving, readiness says going away. */
  leaving: [{ signal: NodeJS.Signals | undefined; stopDelay: number }];
  /** Draining started. */
  stopping: [{ reason: StopReason; signal: NodeJS.Signals | undefined }];
  /** Draining finished; `forced` connections were destroyed at the deadline. */
  stopped: [{ reason: StopReason; forced: number }];
}

/**
 * What the parts of one generation (start-up, signals, restarts, stopping)
 * share: the process, the options, the sockets, who started us, and the one
 * way to change state, `dispatch`. `Graceful` makes it. The fields that are
 * not readonly are what start-up learns: start-up.ts alone writes them, as
 * it learns them (before any other part runs but signals); every other part
 * only reads them.
 */
export interface GenerationContext {
  readonly host: ProcessHost;
  readonly options: ResolvedOptions;
  readonly net: Net;
  readonly shutdown: Shutdown;
  readonly events: EventEmitter<GracefulEvents>;
  /** With `generation` added once it is known. */
  log: Log;
  /** Who started us (a previous generation, `grace run`, systemd), once inherited. */
  starter: Starter | undefined;
  generation: number;
  /** A file watcher or a wrapper that started us (generation 1 only); see launched-by.ts. */
  launchedBy: LaunchedBy;
  /** The pid file and systemd, in direct mode (under `grace run` they are the supervisor's). */
  status: StatusReporter | undefined;
  /** The ready channel to whoever started us, read for "retire" and for its EOF (ready-pipe.ts). */
  channel: StarterChannel | undefined;
  /** While warming up: a stop aborts the warm-up, and its drain waits until the warm-up's channel is gone. */
  warming: { abort: AbortController; over: Promise<unknown> } | undefined;
  /** The servers listening, in the order given (start-up pushes each as it listens). */
  readonly bound: Listener[];
  /** Where we serve, as a log label; read once listening (a closed server has no address). */
  where: string;
  lifecycle(): Lifecycle;
  /** Applies an event to the lifecycle table and carries out its actions; returns their results. */
  dispatch(event: LifecycleEvent): ActionResult[];
}

/** What carrying out an action gave: a restart's outcome, or nothing. */
export type ActionResult = { action: OwnerAction; restart?: Promise<number>; announced?: Promise<void> };

/** Where each server listens, in order: an address, or a unix socket path. */
export function addresses(g: Pick<GenerationContext, 'bound'>): Array<AddressInfo | string> {
  // A unix server reports the temporary name it bound (or null, once adopted).
  return g.bound.map((l) => (l.spec.kind === 'unix' ? l.spec.path : (l.server.address() as AddressInfo)));
}

// 'listening' and 'ready' happen before start() hands the app its handle:
// emitted synchronously, no listener could ever hear them. After the
// microtasks that resolve start() and run the app's code after its await.
export function emitAfterStart<E extends 'listening' | 'ready'>(g: Pick<GenerationContext, 'events'>, event: E, ...args: GracefulEvents[E]): void {
  setImmediate(() => (g.events.emit as (e: E, ...a: GracefulEvents[E]) => boolean)(event, ...args));
}
