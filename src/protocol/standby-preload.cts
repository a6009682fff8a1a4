/*
 * The park of a standby generation (see standby.ts). Node loads this first,
 * from the front of NODE_OPTIONS, before any other preload (`--require`,
 * `--import tsx`, an APM agent) and before the main module: the runtime has
 * booted, nothing of the app has run. It says "parked" on its channel, then
 * blocks the main thread on a synchronous read of that channel, so nothing
 * else can run (no timer, no accept: the inherited listening sockets are
 * untouched fds). The parent writes one JSON line, the environment the next
 * generation must have and the scheduling priority to run at; this applies
 * both and returns, and node goes on to load the app from disk as it is now.
 * EOF (the parent died or dropped us) exits at once.
 *
 * Plain JavaScript in a .cts file: node loads it as it is from src/ (under
 * tsx, which is not loaded yet when this runs) and tsc compiles it to .cjs.
 * It can import nothing of grace's, so it keeps its own copy of its part of
 * the channel's protocol (platform/channel-words.ts): the word it says and
 * how it reads the release line. test/channel-words.test.ts checks they
 * agree with the protocol module.
 */
'use strict';
const fs = require('node:fs');
const os = require('node:os');

/** Said once booted: WORDS.parked, on a line of its own. */
const PARKED = 'parked';

/**
 * The global set while grace loads in the park (platform/process-host.ts
 * `PARKED_GLOBAL`): grace then leaves there what it takes from the
 * environment at start, for the park to call once released.
 */
const PARKED_GLOBAL = 'grace-restart.parked';

/** The release line (platform/channel-words.ts `releaseLine`): the environment and the priority to run with. */
function readRelease(line = '') {
  const { env, priority } = JSON.parse(line);
  return { env, priority };
}

module.exports = { PARKED, PARKED_GLOBAL, readRelease };

const channel = process.env.GRACE_STANDBY_FD;
if (channel !== undefined) {
  delete process.env.GRACE_STANDBY_FD;
  // GRACE_STANDBY_WARM=undici: the generation it stands in for had loaded node's undici (Node 22
  // and 24: an ESM `import 'node:http'` does, for http.WebSocket, about 25 ms; so does fetch).
  // Loaded now, while booting, it is not loaded after the release; it reads nothing of the
  // environment the release changes but FORCE_COLOR, UNDICI_NO_FG and JEST_WORKER_ID (boot-env.ts).
  if (process.env.GRACE_STANDBY_WARM === 'undici') void globalThis.WebSocket;
  delete process.env.GRACE_STANDBY_WARM;
  // GRACE_STANDBY_GRACE=FILE: grace's own bundle, which the generation it stands in for ran
  // (either build; an ESM one by require(esm), where node has it: 20.19, 22.12 and later).
  // The app's import of it is then a cache hit. What grace takes from the environment as it
  // loads (the protocol variables, the env files' values) it leaves for after the release
  // (PARKED_GLOBAL); should it fail to load, the app loads it as it would have.
  const grace = process.env.GRACE_STANDBY_GRACE;
  delete process.env.GRACE_STANDBY_GRACE;
  if (grace) {
    Reflect.set(globalThis, Symbol.for(PARKED_GLOBAL), true);
    try {
      require(grace);
    } catch {
      // node without require(esm), or a file gone: nothing is warmed
    }
  }
  const fd = Number(channel);
  const chunk = Buffer.alloc(64 * 1024);
  const parts = [];
  let released = '';
  try {
    fs.writeSync(fd, `${PARKED}\n`);
    for (;;) {
      let n = 0;
      try {
        n = fs.readSync(fd, chunk, 0, chunk.length, null);
      } catch (err) {
        // A non-blocking fd: wait a little without running anything, then read again.
        if (err && typeof err === 'object' && 'code' in err && err.code === 'EAGAIN') {
          Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
          continue;
        }
        throw err;
      }
      if (n === 0) process.exit(0);
      parts.push(Buffer.from(chunk.subarray(0, n)));
      const text = Buffer.concat(parts).toString('utf8');
      const nl = text.indexOf('\n');
      if (nl >= 0) {
        released = text.slice(0, nl);
        break;
      }
    }
  } catch {
    process.exit(0); // the channel broke: the parent is gone
  }
  const release = readRelease(released);
  for (const key of Object.keys(process.env)) if (!(key in release.env)) delete process.env[key];
  for (const [key, value] of Object.entries(release.env)) process.env[key] = String(value);
  if (typeof release.priority === 'number') {
    // Linux sets a nice value per thread: restore every thread node started while lowered.
    let threads = [String(process.pid)];
    try {
      threads = fs.readdirSync('/proc/self/task');
    } catch {
      // no /proc: the main thread only
    }
    for (const tid of threads) {
      try {
        os.setPriority(Number(tid), release.priority);
      } catch {
        // the parent checked it could be restored; a thread that ended meanwhile is fine
      }
    }
  }
  // grace, loaded in the park, takes its start's environment now: the release's.
  const takeAtStart = Reflect.get(globalThis, Symbol.for(PARKED_GLOBAL));
  Reflect.deleteProperty(globalThis, Symbol.for(PARKED_GLOBAL));
  if (typeof takeAtStart === 'function') takeAtStart();
}
