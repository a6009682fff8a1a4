import { closeSync, writeSync } from 'node:fs';
import type { Starter } from './listen-env.js';
import type { Log } from './logger.js';
import type { ProcessHost } from './process-host.js';

/*
 * The child's side of the readiness protocol. It writes "ready" on the pipe
 * its starter gave it, and only then, in direct mode, sends SIGTERM to the
 * previous generation (Go grace's signal). The word is in the pipe before the
 * signal is sent, so the parent, which looks at the signal only after the
 * I/O of the turn it arrived in, has always read the word by then: whose
 * SIGTERM it is needs no timing guess.
 */

export function tellStarterReady(host: ProcessHost, starter: Starter, logger: Log): void {
  try {
    writeSync(starter.readyFd, 'ready\n');
    closeSync(starter.readyFd);
  } catch (err) {
    // EPIPE: it is gone (a supervisor killed, a parent that gave up on us).
    logger.warn(`could not say ready on fd ${starter.readyFd}: ${(err as Error).message}`);
    return;
  }
  if (starter.kind === 'parent') signalParent(host, starter.pid, logger);
}

function signalParent(host: ProcessHost, parentPid: number, logger: Log): void {
  const ppid = host.ppid();
  // Our parent may have died since start: never signal pid 1, a subreaper or a recycled pid.
  if (ppid !== parentPid) {
    logger.warn(`not signalling pid ${parentPid}: it is no longer our parent (parent is pid ${ppid})`);
    return;
  }
  try {
    host.kill(parentPid, 'SIGTERM');
  } catch (err) {
    logger.warn(`could not signal old pid ${parentPid}: ${(err as Error).message}`);
  }
}
