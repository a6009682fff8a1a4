// Who may make `grace reload` signal a process, and what a full disk does to
// the pid file. Real files, real processes; the ownership cases need root (to
// hand a file to another uid), the full-disk cases a tmpfs mount.
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, closeSync, mkdtempSync, openSync, readdirSync, readFileSync, rmdirSync, symlinkSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { readStat } from '../src/platform/proc.ts';
import { readPidFile, writePidFile, type PidFileState } from '../src/reporting/pid-file.ts';
import { reload } from '../src/cli/reload.ts';
import { killQuietly, nobodyCannotRunNode, portOf, get, startFixture, tempDir } from './helpers.ts';

const NOBODY = 65534;
const asRoot = process.getuid?.() === 0;

/**
 * A process that counts the SIGUSR2s it gets and reports the count on SIGTERM.
 * Linux delivers pending standard signals lowest number first and Node queues
 * them in arrival order, so a USR2 (12) sent before the TERM (15) is counted.
 */
class Target {
  readonly proc: ChildProcess;
  private out = '';

  constructor(t: TestContext, uid?: number) {
    const script = `let n = 0;
      process.on('SIGUSR2', () => n++);
      process.on('SIGTERM', () => { process.stdout.write('usr2 ' + n + '\\n'); process.exit(0); });
      process.stdout.write('ready\\n');
      setInterval(() => {}, 1e6);`;
    this.proc = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'], cwd: '/', ...(uid === undefined ? {} : { uid, gid: uid }) });
    this.proc.stdout!.setEncoding('utf8').on('data', (chunk: string) => (this.out += chunk));
    t.after(() => killQuietly(this.proc.pid!));
  }

  get pid(): number {
    return this.proc.pid!;
  }

  async ready(): Promise<void> {
    while (!this.out.includes('ready\n')) await new Promise((r) => this.proc.stdout!.once('data', r));
  }

  /** Stops it and returns how many SIGUSR2s it got; proves it was still alive. */
  async usr2Count(): Promise<number> {
    const exited = new Promise((r) => this.proc.once('close', r)); // exited, and its output read to the end
    process.kill(this.pid, 'SIGTERM');
    await exited;
    const match = /usr2 (\d+)/.exec(this.out);
    assert.ok(match, `the target was alive to answer SIGTERM; it wrote ${JSON.stringify(this.out)}`);
    return Number(match[1]);
  }
}

/** A pid file as grace writes it, naming `pid` with its real start time: a perfect forgery. */
function grace(pid: number): PidFileState {
  return { pid, start: readStat(pid)?.startTime, generation: 1, serving: pid, state: 'serving', at: Date.now() };
}

function plant(path: string, state: PidFileState, mode = 0o644): void {
  writeFileSync(path, `${state.pid}\ngrace ${JSON.stringify(state)}\n`, { mode });
  chmodSync(path, mode);
}

// Short: a reload that got past the checks waits for a generation that never comes.
const REFUSED_OR_TIMED_OUT = { timeout: 300, pollInterval: 20 };

test('reload refuses a pid file owned by another uid naming a root process, and does not signal it', { timeout: 30_000, skip: !asRoot && 'needs root to chown a file to nobody' }, async (t) => {
  const dir = tempDir(t);
  const target = new Target(t);
  await target.ready();
  const pidFile = join(dir, 'app.pid');
  plant(pidFile, grace(target.pid));
  chownSync(pidFile, NOBODY, NOBODY);
  await assert.rejects(reload({ pidFile, ...REFUSED_OR_TIMED_OUT }), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'ERR_GRACE_PID_FILE', err.message);
    assert.match(err.message, new RegExp(`${pidFile}.*owned by uid ${NOBODY}.*pid ${target.pid} runs as uid 0`));
    return true;
  });
  assert.equal(await target.usr2Count(), 0);
});

test('reload signals a process whose uid owns the pid file, as root too', { timeout: 30_000, skip: (!asRoot && 'needs root to run a process as nobody') || nobodyCannotRunNode() }, async (t) => {
  const dir = tempDir(t);
  const target = new Target(t, NOBODY);
  await target.ready();
  const pidFile = join(dir, 'app.pid');
  plant(pidFile, grace(target.pid));
  chownSync(pidFile, NOBODY, NOBODY);
  await assert.rejects(reload({ pidFile, ...REFUSED_OR_TIMED_OUT }), { code: 'ERR_GRACE_RESTART_FAILED', message: /timed out after 300 ms/ });
  assert.equal(await target.usr2Count(), 1);
});

test('reload refuses a pid file that a group or other users can write, and does not signal', { timeout: 30_000 }, async (t) => {
  const dir = tempDir(t);
  const target = new Target(t);
  await target.ready();
  for (const mode of [0o664, 0o646]) {
    const pidFile = join(dir, `app-${mode.toString(8)}.pid`);
    plant(pidFile, grace(target.pid), mode);
    await assert.rejects(reload({ pidFile, ...REFUSED_OR_TIMED_OUT }), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'ERR_GRACE_PID_FILE', err.message);
      assert.match(err.message, new RegExp(`${pidFile} is writable by other users \\(mode ${mode.toString(8)};`));
      return true;
    });
  }
  assert.equal(await target.usr2Count(), 0);
});

test('reload refuses a pid file that is a symlink, and does not signal', { timeout: 30_000 }, async (t) => {
  const dir = tempDir(t);
  const target = new Target(t);
  await target.ready();
  const real = join(dir, 'real.pid');
  plant(real, grace(target.pid));
  const pidFile = join(dir, 'app.pid');
  symlinkSync(real, pidFile);
  await assert.rejects(reload({ pidFile, ...REFUSED_OR_TIMED_OUT }), { code: 'ERR_GRACE_PID_FILE', message: new RegExp(`${pidFile} is a symlink`) });
  assert.equal(await target.usr2Count(), 0);
});

/**
 * A directory on its own tmpfs of four pages, unmounted when the test ends.
 * Returns undefined (and skips the test) where mounting is not permitted.
 */
function tinyFilesystem(t: TestContext): string | undefined {
  const dir = mkdtempSync(join(tmpdir(), 'grace-full-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=16k,mode=0755', 'tmpfs', dir], { stdio: 'pipe' });
  } catch (err) {
    rmdirSync(dir);
    t.skip(`cannot mount a tmpfs to fill: ${(err as Error).message.split('\n')[0]}`);
    return undefined;
  }
  t.after(() => {
    execFileSync('umount', [dir]);
    rmdirSync(dir);
  });
  return dir;
}

/** Writes a file until the filesystem refuses: ENOSPC is the proof it is full. */
function fill(dir: string): void {
  const fd = openSync(join(dir, 'filler'), 'w');
  try {
    for (;;) writeSync(fd, Buffer.alloc(1024));
  } catch (err) {
    assert.equal((err as NodeJS.ErrnoException).code, 'ENOSPC');
  } finally {
    closeSync(fd);
  }
}

test('on a full disk writePidFile leaves no temp file behind and still records the new state', { timeout: 30_000 }, (t) => {
  const dir = tinyFilesystem(t);
  if (!dir) return;
  const pidFile = join(dir, 'app.pid');
  writePidFile(pidFile, { pid: 100, start: 1, generation: 1, serving: 100, state: 'serving', at: 1 });
  fill(dir);
  const next: PidFileState = { pid: 100, start: 1, generation: 2, serving: 200, state: 'failed', message: 'x'.repeat(200), at: 2 };
  writePidFile(pidFile, next);
  assert.deepEqual(readdirSync(dir).sort(), ['app.pid', 'filler']);
  assert.deepEqual(readPidFile(pidFile), next);
  const shorter: PidFileState = { pid: 100, start: 1, generation: 3, serving: 300, state: 'serving', at: 3 };
  writePidFile(pidFile, shorter);
  assert.deepEqual(readPidFile(pidFile), shorter, 'a shorter state leaves no tail of the longer one');
  assert.equal(readFileSync(pidFile, 'utf8'), `100\ngrace ${JSON.stringify(shorter)}\n`);
});

test('on a full disk with no pid file yet, writePidFile throws and leaves nothing behind', { timeout: 30_000 }, (t) => {
  const dir = tinyFilesystem(t);
  if (!dir) return;
  fill(dir);
  assert.throws(() => writePidFile(join(dir, 'app.pid'), { pid: 100, start: 1, generation: 1, serving: 100, state: 'serving', at: 1 }), { code: 'ENOSPC' });
  assert.deepEqual(readdirSync(dir), ['filler']);
});

test('grace reload on a full disk reports the restart that happened', { timeout: 60_000 }, async (t) => {
  const dir = tinyFilesystem(t);
  if (!dir) return;
  const pidFile = join(dir, 'app.pid');
  const app = startFixture(t, { listen: [{ port: 0, host: '127.0.0.1' }], options: { pidFile } });
  const first = await app.ready();
  fill(dir);
  const result = await reload({ pidFile, timeout: 20_000 });
  const second = await app.waitFor((e) => e.event === 'ready' && e.pid !== first.pid); // its line comes on another pipe than the answer
  assert.deepEqual(result, { signalled: first.pid, oldPid: first.pid, newPid: second.pid, generation: 2 });
  assert.equal((await get({ port: portOf(first) }, '/')).json.pid, second.pid);
  assert.deepEqual(readdirSync(dir).sort(), ['app.pid', 'filler']);
});
