import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { callerFile } from './source-file.js';

/*
 * grace-restart's version, for `grace --version` and for what `grace status`
 * describes: read from the package.json above the running code (src/ in
 * development, dist/esm/ or dist/cjs/ once installed). An app that bundled
 * grace into its own file has no such package.json: the version is unknown.
 */

let cached: string | null | undefined;

/** The version of the grace-restart this code is part of, read once; undefined where it cannot be found. */
export function graceVersion(): string | undefined {
  if (cached === undefined) {
    const here = callerFile();
    cached = (here && versionAbove(dirname(here))) ?? null;
  }
  return cached ?? undefined;
}

function versionAbove(start: string): string | undefined {
  for (let dir = start; ; dir = dirname(dir)) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'grace-restart' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // none here (dist/cjs/package.json has no name): look further up
    }
    if (dirname(dir) === dir) return undefined;
  }
}
