import type { ChildProcess } from 'node:child_process';
import { accessSync, constants, existsSync, readlinkSync, realpathSync, statSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';
import { basename, delimiter, dirname, isAbsolute, join, resolve } from 'node:path';
import type { Duplex } from 'node:stream';
import { ChannelWords, releaseLine, WORDS } from '../platform/channel-words.js';
import type { Log } from '../platform/logger.js';
import { graceVersion } from '../platform/package-version.js';
import { callerFile } from '../platform/source-file.js';
import { channelOf, Launch, spawnGeneration, type ResolvedLaunchSpec as LaunchSpec } from './launcher.js';
import { readyFdAfter } from '../platform/listen-env.js';
import { readAtBoot } from './boot-env.js';
import { quoteNodeOption } from './node-options.js';
import { restorablePriority, restorePriority, STANDBY_NICE } from './standby-priority.js';

/*
 * A standby generation: the next generation booted ahead of time and parked
 * before anything of the app runs (standby-preload.cts), so that a restart
 * costs the app's own start-up and not node's. It is spawned as the next
 * generation would be (same node, flags, script, cwd, the sockets as fds
 * 3.., the channel after them) with the park at the front of NODE_OPTIONS,
 * ahead of every user preload. On a restart it is released with the
 * environment the next generation must have, and from then on it is a
 * launch like any other (launcher.ts): the same channel carries its "ready".
 *
 * Correct or not at all: it stands in for a fresh spawn only when it is what
 * a fresh spawn would be. Node's binary, its flags, the environment read at
 * exec or as node boots (boot-env.ts), the script and cwd are fixed at boot;
 * if any changed, or it died, the restart spawns afresh and the standby is
 * killed. One still booting is released all the same: its release line
 * waits in the channel until the park reads it, and the rest of its boot
 * runs at its parent's priority (further along than a fresh spawn would be).
 */

type State = 'booting' | 'parked' | 'released' | 'gone';

export interface BootOptions {
  /**
   * `undici`: node's undici is loaded in the park, before it says "parked"
   * (standby-preload.cts says why): for the next generation of an app that
   * loaded it (`undiciLoaded()`).
   */
  warm?: 'undici' | undefined;
  /**
   * grace's own bundle (`graceBundle()`), loaded in the park too, so that
   * the next generation's `import 'grace-restart'` finds it loaded: about
   * 10 ms of a release. Should the file change on disk (an upgrade), the
   * standby is not used.
   */
  grace?: string | undefined;
  /**
   * With `grace`: the app's script as given (`process.argv[1]`). Should it
   * resolve to another file at the release (a deploy switched a symlink),
   * the next generation may import another grace than the park loaded, and
   * the standby is not used.
   */
  script?: string | undefined;
}

/**
 * The bundled index.js this code runs from (either build), which the next
 * generation of an app that loaded it will import; undefined from the
 * sources (under tsx), where it is no single file.
 */
export function graceBundle(): string | undefined {
  const file = callerFile();
  // grace's own, not an app's bundle that took grace in: its park beside it, a package.json named grace-restart above.
  const own = file !== undefined && basename(file) === 'index.js' && parkPreload() === join(dirname(file), 'protocol', 'standby-preload.cjs') && graceVersion() !== undefined;
  return own ? file : undefined;
}

/**
 * Whether this process has loaded node's own undici (Node 22 and 24 load it
 * for an ESM `import 'node:http'`, and for fetch): the next generation of
 * the same app will, so its standby loads it while booting.
 */
export function undiciLoaded(): boolean {
  // process.moduleLoadList: a Node internal (undocumented), read only; absent, nothing is warmed.
  const list = (process as { moduleLoadList?: string[] }).moduleLoadList;
  return list?.includes('NativeModule internal/deps/undici/undici') ?? false;
}

interface FileId {
  dev: number;
  ino: number;
  size: number;
  mtimeMs: number;
}

export class Standby {
  private state: State = 'booting';
  private readonly child: ChildProcess;
  private readonly channel: Duplex | undefined;
  /** Hears its one word ("parked"); off once parked or released (the channel is then the launch's). */
  private readonly onData: (chunk: Buffer) => void;
  private readonly binary: FileId | undefined;
  private readonly dir: FileId | undefined;
  /** What the park loaded besides grace (`BootOptions.warm`). */
  private readonly warm: BootOptions['warm'];
  /** grace's bundle as the park loaded it (`BootOptions.grace`). */
  private readonly grace: { path: string; id: FileId | undefined; script: string | undefined; scriptReal: string | undefined } | undefined;
  /** The priority it must be given back on release, when it was lowered. */
  private readonly restoreTo: number | undefined;
  /** ms since epoch. */
  readonly startedAt = Date.now();
  /** Called when it parks or dies (what `grace status` shows changed). */
  onChange: () => void = () => {};

  private constructor(
    private readonly spec: LaunchSpec,
    private readonly log: Log,
    preload: string,
    { warm, grace, script }: BootOptions,
  ) {
    this.binary = fileId(commandPath(spec));
    this.dir = spec.cwd === undefined ? undefined : fileId(spec.cwd);
    this.warm = warm;
    this.grace = grace === undefined ? undefined : { path: grace, id: fileId(grace), script, scriptReal: realFile(script) };
    const readyFd = readyFdAfter(spec.fds.length);
    // In front of the user's NODE_OPTIONS, which follow byte for byte.
    const nodeOptions = [`--require ${quoteNodeOption(preload)}`, spec.env.NODE_OPTIONS].filter(Boolean).join(' ');
    this.child = spawnGeneration(spec, { ...spec.env, NODE_OPTIONS: nodeOptions, GRACE_STANDBY_FD: String(readyFd), ...(warm && { GRACE_STANDBY_WARM: warm }), ...(grace && { GRACE_STANDBY_GRACE: grace }) });
    this.restoreTo = this.child.pid === undefined ? undefined : lower(this.child.pid);
    // A parked spare never keeps this generation alive; its exit is EOF there.
    this.child.unref();
    this.channel = channelOf(this.child, spec);
    (this.channel as { unref?: () => void } | undefined)?.unref?.();
    this.channel?.on('error', () => {});
    // Its one word; from its release on, the channel is the launch's (launcher.ts reads "ready" there).
    const words = new ChannelWords((word) => {
      if (this.state !== 'booting') return;
      if (word !== WORDS.parked) return this.ranWithoutPark(word);
      this.state = 'parked';
      this.channel?.off('data', this.onData);
      // Booted at nice 19; parked, it waits at its parent's priority, so that its release starts at once.
      if (this.restoreTo !== undefined && this.pid !== undefined) restorePriority(this.pid, this.restoreTo);
      log.debug(`standby pid ${this.pid} parked`, { event: 'standby-parked', standby: this.pid });
      this.onChange();
    });
    this.onData = (chunk: Buffer) => words.push(chunk);
    this.channel?.on('data', this.onData);
    this.child.once('error', (err: NodeJS.ErrnoException) => this.died(`could not start (${err.code ?? err.message})`));
    this.child.once('exit', (code, signal) => this.died(`exited with ${signal ?? `code ${code}`}`));
  }

  /**
   * Boots a standby for `spec` (what a fresh spawn would be now); undefined,
   * with the reason logged, when it cannot be (no park preload beside grace).
   */
  static boot(spec: LaunchSpec, log: Log, options: BootOptions = {}): Standby | undefined {
    const preload = parkPreload();
    if (!preload) {
      log.debug('no standby: the park preload (standby-preload.cjs) is not beside grace', { event: 'standby-unavailable' });
      return undefined;
    }
    if (parkSkipped) {
      log.debug(`no standby: ${parkSkipped}`, { event: 'standby-unavailable' });
      return undefined;
    }
    const standby = new Standby(spec, log, preload, options);
    log.debug(`booting standby pid ${standby.pid ?? '(not spawned)'}${standby.restoreTo === undefined ? '' : ` at nice ${STANDBY_NICE}`}`, { event: 'standby-boot', standby: standby.pid });
    return standby;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Not parked yet: it may still be, later. */
  get booting(): boolean {
    return this.state === 'booting';
  }

  /** Parked: it may be released (if still what a fresh spawn would be). */
  get parked(): boolean {
    return this.state === 'parked';
  }

  /** Dead, dropped or released: of no more use as a standby. */
  get gone(): boolean {
    return this.state === 'gone' || this.state === 'released';
  }

  /** Why it cannot stand in for a fresh spawn of `spec`, or undefined when it can. */
  unfitFor(spec: LaunchSpec): string | undefined {
    if (this.state !== 'parked' && this.state !== 'booting') return 'it is gone';
    const command = commandPath(spec);
    if (!sameFile(this.binary, fileId(command))) return `the ${command === this.spec.file ? 'node binary' : 'command'} ${command} changed on disk`;
    const replaced = this.pid === undefined ? undefined : replacedBinary(this.pid);
    if (replaced) return `the node binary ${replaced} changed on disk`;
    if (spec.file !== this.spec.file || !sameList(spec.args, this.spec.args)) return 'the command or its flags changed';
    if ((spec.output ?? 'inherit') !== (this.spec.output ?? 'inherit') || (spec.stderr ?? 'inherit') !== (this.spec.stderr ?? 'inherit')) {
      return 'its output is taken differently now (log prefixes)';
    }
    if (spec.cwd !== this.spec.cwd || (spec.cwd !== undefined && !sameFile(this.dir, fileId(spec.cwd)))) return `the working directory ${spec.cwd} changed`;
    if (!sameList(spec.fds, this.spec.fds)) return 'the listening sockets changed';
    if (this.grace && !sameFile(this.grace.id, fileId(this.grace.path))) return `grace's own ${this.grace.path}, loaded in the park, changed on disk`;
    if (this.grace?.script !== undefined && realFile(this.grace.script) !== this.grace.scriptReal) {
      return `the script ${this.grace.script} is another file now (a deploy switched a link), which may import another grace than the park loaded`;
    }
    for (const key of new Set([...Object.keys(spec.env), ...Object.keys(this.spec.env)])) {
      const reader = spec.env[key] === this.spec.env[key] ? undefined : readAtBoot(key, this.warm);
      if (reader) return `${key} changed (${reader})`;
    }
    if (this.restoreTo !== undefined && restorablePriority() !== getPriority()) return 'its priority could not be restored';
    return undefined;
  }

  /**
   * Lets it load the app with `spec`'s environment; returns the process, now a
   * launch's to watch (`new Launch(spec, child)`). Only after `unfitFor` said yes.
   */
  release(spec: LaunchSpec): ChildProcess {
    // Still booting (at nice 19, maybe): the rest of its boot is the restart's, at its parent's priority.
    if (this.state === 'booting' && this.restoreTo !== undefined && this.pid !== undefined) restorePriority(this.pid, this.restoreTo);
    this.channel?.off('data', this.onData);
    this.state = 'released';
    const priority = this.restoreTo === undefined ? undefined : getPriority();
    this.channel!.write(releaseLine({ env: spec.env, priority }));
    this.child.ref();
    (this.channel as { ref?: () => void }).ref?.();
    return this.child;
  }

  /** Not wanted any more (a stop, a fresh spawn instead): it goes, running nothing. */
  drop(): void {
    if (this.state === 'released' || this.state === 'gone') return;
    this.state = 'gone';
    this.channel?.destroy();
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }

  /**
   * It said a word of the app's ("ready") while booting: the park never ran
   * (a command that replaces NODE_OPTIONS before it execs node), so the app
   * runs with the boot's environment. It goes, and no more are booted here:
   * every one would do the same.
   */
  private ranWithoutPark(word: string): void {
    parkSkipped = `standby pid ${this.pid ?? '(none)'} said "${word}" before it parked: the park preload did not run (does the command replace NODE_OPTIONS?)`;
    this.log.warn(`${parkSkipped}; restarts start afresh from now on`, { event: 'standby-unavailable', standby: this.pid });
    this.drop();
    this.onChange();
  }

  private died(how: string): void {
    if (this.state === 'released' || this.state === 'gone') return;
    const was = this.state;
    this.state = 'gone';
    this.channel?.destroy();
    this.log.debug(`standby pid ${this.pid ?? '(none)'} ${how} while ${was}`, { event: 'standby-gone', standby: this.pid });
    this.onChange();
  }
}

/**
 * The next generation's launch: `fit`, released, when there is one (a
 * standby `fitOrDrop` found to be what a fresh spawn of `spec` would be, in
 * this same turn: it is not checked again); else a fresh spawn.
 */
export function launchNext(spec: LaunchSpec, fit: Standby | undefined, log: Log): Launch {
  if (!fit) return new Launch(spec);
  const booting = fit.booting ? ' (still booting: it runs once parked)' : '';
  log.debug(`releasing standby pid ${fit.pid} as the next generation${booting}`, { event: 'standby-release', standby: fit.pid, booting: fit.booting });
  return new Launch(spec, fit.release(spec));
}

/**
 * `standby`, when it can stand in for a fresh spawn of `spec`; if not, it is
 * killed, why is logged once (at debug), and undefined is returned.
 */
export function fitOrDrop(standby: Standby | undefined, spec: LaunchSpec, log: Log): Standby | undefined {
  if (!standby) return undefined;
  const unfit = standby.unfitFor(spec);
  if (!unfit) return standby;
  standby.drop();
  log.debug(`standby pid ${standby.pid ?? '(none)'} not used: ${unfit}; starting a fresh process`, { event: 'standby-fallback', standby: standby.pid, why: unfit });
  return undefined;
}

/** Lowers a just-spawned standby when it can be restored on release; returns the priority to restore. */
function lower(pid: number): number | undefined {
  const restoreTo = restorablePriority();
  if (restoreTo === undefined) return undefined;
  try {
    setPriority(pid, STANDBY_NICE);
    return restoreTo;
  } catch {
    return undefined;
  }
}

/** The file spawn runs for `spec.file`: a path as it is (from the cwd), a bare name looked up in PATH. */
function commandPath(spec: LaunchSpec): string {
  const { file, env, cwd } = spec;
  if (file.includes('/')) return isAbsolute(file) ? file : resolve(cwd ?? process.cwd(), file);
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    const path = resolve(cwd ?? process.cwd(), dir, file);
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {
      // not here
    }
  }
  return file;
}

/**
 * The binary a process runs, when the file at its path is no longer that
 * binary (replaced by a rename, as installs do, or removed): also when the
 * command is a wrapper that started node. Undefined when it is the same, or
 * where /proc cannot tell.
 */
function replacedBinary(pid: number): string | undefined {
  let path: string;
  let running: FileId | undefined;
  try {
    path = readlinkSync(`/proc/${pid}/exe`).replace(/ \(deleted\)$/, '');
    running = fileId(`/proc/${pid}/exe`);
  } catch {
    return undefined;
  }
  const onDisk = fileId(path);
  return running !== undefined && (onDisk === undefined || onDisk.dev !== running.dev || onDisk.ino !== running.ino) ? path : undefined;
}

function realFile(path: string | undefined): string | undefined {
  try {
    return path === undefined ? undefined : realpathSync(path);
  } catch {
    return undefined;
  }
}

function fileId(path: string): FileId | undefined {
  try {
    const { dev, ino, size, mtimeMs } = statSync(path);
    return { dev, ino, size, mtimeMs };
  } catch {
    return undefined;
  }
}

function sameFile(a: FileId | undefined, b: FileId | undefined): boolean {
  return a !== undefined && b !== undefined && a.dev === b.dev && a.ino === b.ino && a.size === b.size && a.mtimeMs === b.mtimeMs;
}

function sameList<T>(a: readonly T[], b: readonly T[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

let preloadPath: string | null | undefined;

/** Why standbys cannot work in this process, once one ran the app without parking (`ranWithoutPark`). */
let parkSkipped: string | undefined;

/**
 * The park preload beside this module: standby-preload.cts in src/ (run
 * under tsx), .cjs once built, in protocol/ beside the bundled index.js of
 * dist/esm and dist/cjs, and beside dist/cjs/supervisor/, the bundle of
 * `grace run` (package.json's bundle script). Found through the stack, which names this
 * file in every build (the CommonJS one cannot hold `import.meta`).
 */
function parkPreload(): string | undefined {
  if (preloadPath === undefined) {
    const here = callerFile();
    const dir = here === undefined ? undefined : dirname(here);
    const candidates = dir === undefined ? [] : ['standby-preload.cjs', 'standby-preload.cts', 'protocol/standby-preload.cjs', '../protocol/standby-preload.cjs'].map((f) => join(dir, f));
    preloadPath = candidates.find((path) => existsSync(path)) ?? null;
  }
  return preloadPath ?? undefined;
}
