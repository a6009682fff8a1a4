import { closeSync, writeSync } from 'node:fs';
import { Socket } from 'node:net';
import type { Starter } from '../platform/listen-env.js';
import type { Log } from '../platform/logger.js';
import type { ProcessHost } from '../platform/process-host.js';

/*
 * The child's side of the readiness protocol. It writes "ready" on the pipe
 * its starter gave it, and only then, in direct mode, sends SIGTERM to the
 * previous generation (Go grace's signal). The word is in the pipe before the
 * signal is sent, so the parent, which looks at the signal only after the
 * I/O of the turn it arrived in, has always read the word by then: whose
 * SIGTERM it is needs no timing guess.
 *
 * Under `grace run` the channel (a socket pair) stays open the other way:
 * the supervisor writes "retire" before the SIGTERM that replaces this
 * generation, and the same ordering tells a handover from a stop.
 */

export function tellStarterReady(host: ProcessHost, starter: Starter, logger: Log, onRetire: () => void = () => {}): void {
  try {
    writeSync(starter.readyFd, 'ready\n');
    if (starter.kind === 'supervisor') listenForRetire(starter.readyFd, logger, onRetire);
    else closeSync(starter.readyFd);
  } catch (err) {
    // EPIPE: it is gone (a supervisor killed, a parent that gave up on us).
    logger.warn(`could not say ready on fd ${starter.readyFd}: ${(err as Error).message}`, { event: 'ready-word-failed', err });
    return;
  }
  if (starter.kind === 'parent') signalParent(host, starter.pid, logger);
}

function signalParent(host: ProcessHost, parentPid: number, logger: Log): void {
  const ppid = host.ppid();
  // Our parent may have died since start: never signal pid 1, a subreaper or a recycled pid.
  if (ppid !== parentPid) {
    logger.warn(`not signalling pid ${parentPid}: it is no longer our parent (parent is pid ${ppid})`, { event: 'parent-gone', parentPid, ppid });
    return;
  }
  try {
    host.kill(parentPid, 'SIGTERM');
  } catch (err) {
    logger.warn(`could not signal old pid ${parentPid}: ${(err as Error).message}`, { event: 'parent-gone', parentPid, err });
  }
}

function listenForRetire(fd: number, logger: Log, onRetire: () => void): void {
  // Opened both ways, though we only read: a socket opened read-only would
  // shut down its write side, and the supervisor's end would answer EOF
  // by closing the way "retire" travels.
  const channel = new Socket({ fd });
  // Never what keeps this process alive; the supervisor's exit is EOF here.
  channel.unref();
  let heard = '';
  channel.setEncoding('utf8');
  channel.on('data', (chunk: string) => {
    heard += chunk;
    if (!heard.includes('retire')) return;
    logger.debug('the supervisor retires this generation', { event: 'retire-word' });
    channel.destroy();
    onRetire();
  });
  channel.on('error', () => {});
}
