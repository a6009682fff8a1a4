import { createRequire } from 'node:module';

/*
 * Node built-ins that only some paths need, loaded on first use instead of
 * with the package: every generation loads grace as it starts, and node:https
 * (with tls), node:crypto and node:child_process together cost it more CPU
 * than all of grace's own modules (bench/import-cost.ts). A require made from
 * any absolute path resolves built-ins (import.meta.url would not compile to
 * CommonJS); it is synchronous, so the call sites stay as they were.
 *
 * node:http too, for another reason: an ESM import of a built-in builds its
 * facade by reading every export, and on Node 22 and 24 `http.WebSocket` is
 * a getter that loads undici, so `import http from 'node:http'` in grace's
 * ESM build cost every generation about 25 ms of CPU; require() reads none.
 */
const load = createRequire('/');

/** node:crypto, for the random part of temporary names (pid file, unix socket). */
export function crypto(): typeof import('node:crypto') {
  return load('node:crypto') as typeof import('node:crypto');
}

/** node:http, for what a drain tells of a server and the warm-up's requests. */
export function http(): typeof import('node:http') {
  return load('node:http') as typeof import('node:http');
}

/** node:child_process, for systemd-notify. */
export function childProcess(): typeof import('node:child_process') {
  return load('node:child_process') as typeof import('node:child_process');
}
