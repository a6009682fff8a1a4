import { fstatSync, lstatSync, readdirSync, realpathSync, statSync, watch, type FSWatcher, type Stats } from 'node:fs';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { GraceError } from '../platform/errors.js';
import type { Log } from '../platform/logger.js';

/*
 * `grace run --watch`, for development: which files changed, as the table's
 * `changed` events. The table decides what a change means (core/watch.ts:
 * the debounce, one reload after the one in flight); this only watches.
 *
 * Skipped: `node_modules`, `.git` and every other dotfile or dot-directory
 * (editors' swap files, caches), the pid file (rewritten at every step), and
 * the files grace run's own stdout and stderr go to (a change would be the
 * line it just wrote, and so on forever).
 *
 * Where fs.watch's `recursive` is the system's own (macOS: FSEvents;
 * Windows), one watcher covers the tree. On Linux node's `recursive` (20,
 * 22 and 24 alike) is a watcher per file and per directory set up by
 * walking the whole tree, node_modules and .git included, with no way to
 * skip them: 9,134 inotify watches and 200 to 470 ms of synchronous start
 * for this repository. There, one watcher per directory is kept instead,
 * walked without the skipped ones (25 for the same tree), and a directory
 * made later is walked when it appears.
 */

/** What `grace run --watch` needs besides the directories. */
export interface WatchOptions {
  /** Changes are named relative to it. */
  cwd: string;
  pidFile?: string;
  logger: Log;
}

/** Whether a path is skipped: any part of it `node_modules` or a dotfile (`.git`, `.env.swp`). */
export function skipped(path: string): boolean {
  return path.split(/[\\/]/).some((part) => part === 'node_modules' || part.startsWith('.'));
}

/**
 * `--watch` (the cwd) and `--watch-path DIR`... (implies --watch): the
 * directories to watch, absolute, each checked to be one; undefined for neither.
 */
export function watchDirs(watch: boolean, paths: string[] | undefined, cwd: string): string[] | undefined {
  if (!watch && !paths) return undefined;
  return [...new Set(paths ?? ['.'])].map((path) => {
    try {
      // Its real path: the watchers name changes under it, compared with the pid file's.
      const dir = realpathSync(resolve(cwd, path));
      if (statSync(dir).isDirectory()) return dir;
    } catch {
      // not there: said below
    }
    throw new GraceError('ERR_GRACE_USAGE', `--watch-path must be a directory; ${JSON.stringify(path)} is not one`);
  });
}

/** Watches `dirs` until closed; `changed` gets each changed path (relative to the cwd) not skipped. */
export function watchFiles(dirs: string[], options: WatchOptions, changed: (path: string) => void): { close(): void } {
  // Compared with the paths the watchers name, under the directories' real paths (watchDirs).
  const pidFile = options.pidFile && realPath(resolve(options.cwd, options.pidFile));
  // `grace run --watch > app.log` in the app's directory: each line we write would reload.
  const ours = new Set([1, 2].flatMap((fd) => fileId(() => fstatSync(fd))));
  const report = (path: string) => {
    if (path === pidFile || (ours.size && fileId(() => statSync(path)).some((id) => ours.has(id)))) return;
    changed(relative(options.cwd, path) || '.');
  };
  const nativeRecursive = process.platform === 'darwin' || process.platform === 'win32';
  const trees = dirs.map((dir) => (nativeRecursive ? new RecursiveWatch(dir, options.logger, report) : new DirectoryWatches(dir, options.logger, report)));
  const count = trees.reduce((sum, tree) => sum + tree.size, 0);
  options.logger.info(`--watch (for development): a change under ${dirs.map((d) => relative(options.cwd, d) || '.').join(', ')} reloads the workers (${count} watcher${count === 1 ? '' : 's'}; node_modules and dotfiles skipped)`, {
    event: 'watching',
    dirs,
  });
  return { close: () => trees.forEach((tree) => tree.close()) };
}

/** One watcher for the tree, where the system watches recursively itself. */
class RecursiveWatch {
  readonly size = 1;
  private readonly watcher: FSWatcher | undefined;

  constructor(root: string, logger: Log, report: (path: string) => void) {
    this.watcher = watchOrSay(root, logger, { recursive: true }, (name) => {
      if (name && !skipped(name)) report(join(root, name));
    });
  }

  close(): void {
    this.watcher?.close();
  }
}

/** A watcher per directory, none in the skipped ones; a directory made later is watched as it appears, one removed is let go. */
class DirectoryWatches {
  private readonly watchers = new Map<string, FSWatcher>();

  constructor(
    root: string,
    private readonly logger: Log,
    private readonly report: (path: string) => void,
  ) {
    this.add(root);
  }

  get size(): number {
    return this.watchers.size;
  }

  close(): void {
    for (const watcher of this.watchers.values()) watcher.close();
    this.watchers.clear();
  }

  private add(dir: string): void {
    const watcher = watchOrSay(dir, this.logger, {}, (name) => this.changed(dir, name));
    if (!watcher) return;
    this.watchers.set(dir, watcher);
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return; // gone already: its parent says so
    }
    for (const entry of entries) if (entry.isDirectory() && !skipped(entry.name)) this.add(join(dir, entry.name));
  }

  private changed(dir: string, name: string | null): void {
    if (name !== null && skipped(name)) return;
    const path = name === null ? dir : join(dir, name);
    const isDirectory = isDir(path);
    if (isDirectory && !this.watchers.has(path)) this.add(path);
    else if (!isDirectory && this.watchers.has(path)) this.remove(path);
    this.report(path);
  }

  /** A directory gone: its watcher and those under it. */
  private remove(dir: string): void {
    for (const [path, watcher] of this.watchers) {
      if (path === dir || path.startsWith(`${dir}${sep}`)) {
        watcher.close();
        this.watchers.delete(path);
      }
    }
  }
}

/** fs.watch, or a warning naming the directory (ENOSPC: the inotify limit; EACCES) and no watcher. */
function watchOrSay(dir: string, logger: Log, options: { recursive?: boolean }, changed: (name: string | null) => void): FSWatcher | undefined {
  try {
    // Not persistent: the watchers never keep grace run from exiting.
    const watcher = watch(dir, { ...options, persistent: false }, (_event, name) => changed(name === null ? null : String(name)));
    watcher.on('error', () => watcher.close()); // the directory went: its parent's watcher says so
    return watcher;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOSPC' ? 'ENOSPC: the inotify watch limit (fs.inotify.max_user_watches) is reached' : (err as Error).message;
    logger.warn(`--watch: cannot watch ${dir}: ${why}; changes there do not reload`, { event: 'watch-failed', dir, err });
    return undefined;
  }
}

/** `path` with its directory's symlinks resolved (the file itself may not be there yet: a pid file). */
function realPath(path: string): string {
  try {
    return join(realpathSync(dirname(path)), basename(path));
  } catch {
    return path;
  }
}

/** A regular file's identity (device and inode), if `stat` finds one. */
function fileId(stat: () => Stats): string[] {
  try {
    const st = stat();
    return st.isFile() ? [`${st.dev}:${st.ino}`] : [];
  } catch {
    return [];
  }
}

function isDir(path: string): boolean {
  try {
    return lstatSync(path).isDirectory();
  } catch {
    return false;
  }
}
