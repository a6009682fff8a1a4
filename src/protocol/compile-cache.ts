import { lstatSync, mkdirSync } from 'node:fs';
import * as nodeModule from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/*
 * V8's compile cache, shared between generations. Every generation compiles
 * the same app, the same node_modules and grace again; with the cache (Node
 * >= 22.1) a generation reads the code its predecessors compiled instead. The
 * cache is Node's own: grace only names a directory for the next generation
 * in NODE_COMPILE_CACHE, so node caches from its very first module (an app
 * calling module.enableCompileCache() itself would miss every module it
 * loaded before). Node writes the cache as a process exits, so a generation
 * reads what the ones before its predecessor wrote.
 *
 * Left alone when NODE_COMPILE_CACHE or NODE_DISABLE_COMPILE_CACHE (Node's
 * off switch) is set, and on an older Node. The directory is this user's
 * alone: code read from a cache is run, so one another user could write is
 * not used.
 */

/** The variables to add to the next generation's environment: NODE_COMPILE_CACHE, or none. */
export function compileCacheEnv(env: NodeJS.ProcessEnv): { NODE_COMPILE_CACHE?: string } {
  if (!('enableCompileCache' in nodeModule)) return {};
  if (env.NODE_COMPILE_CACHE || env.NODE_DISABLE_COMPILE_CACHE) return {};
  const uid = process.getuid?.();
  const dir = join(tmpdir(), `grace-compile-cache-${uid ?? 'user'}`);
  try {
    mkdirSync(dir, { mode: 0o700 });
  } catch {
    // there already, or not creatable: looked at below
  }
  try {
    const stat = lstatSync(dir);
    if (!stat.isDirectory() || (uid !== undefined && stat.uid !== uid) || (stat.mode & 0o077) !== 0) return {};
  } catch {
    return {};
  }
  return { NODE_COMPILE_CACHE: dir };
}
