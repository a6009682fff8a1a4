// `npm run build`'s last step: esbuild over tsc's per-file output (dist/esm,
// dist/cjs), so that what starts often loads few files and little code.
//
// - The library, one file per format (dist/esm/index.js, dist/cjs/index.js):
//   every generation loads it as it starts, and the ESM loader pays per file.
// - The `grace` command (dist/cjs/cli.js, the package's bin), CommonJS: every
//   `grace reload`, `status` or `--version` starts it, and should start like
//   node. What only `grace run` needs (cli.ts's `await import(...)`s: the
//   supervisor, the held sockets) is bundled apart, in place, and required
//   only by `grace run`. dist/esm/cli.js runs the same command, for paths
//   written with the ESM build's name (a systemd unit, the README's).
//
// Built-ins are taken with require(), never `import`, in both formats: an ESM
// import of a built-in builds its facade by reading every export, so on Node
// 22 and 24 `import http from 'node:http'` loads undici for `http.WebSocket`
// (about 25 ms), and `node:fs` its streams; require() reads none of them.
import { readFileSync, writeFileSync } from 'node:fs';
import { build } from 'esbuild';

const root = new URL('..', import.meta.url).pathname;
const common = { bundle: true, platform: 'node', target: 'node20', logLevel: 'warning', allowOverwrite: true, absWorkingDir: root };

/** ESM output: each `node:` import becomes a require() made for this file. */
const builtinsByRequire = {
  name: 'builtins-by-require',
  setup(b) {
    b.onResolve({ filter: /^node:/ }, (args) => (args.namespace === 'builtin' ? { path: args.path, external: true } : { path: args.path, namespace: 'builtin' }));
    b.onLoad({ filter: /.*/, namespace: 'builtin' }, (args) => ({ contents: `module.exports = require(${JSON.stringify(args.path)});`, loader: 'js' }));
  },
};
const requireBanner = "import { createRequire as __graceCreateRequire } from 'node:module';\nconst require = __graceCreateRequire(import.meta.url);";

// CommonJS first: both from tsc's ESM output, which the first overwrites.
await build({ ...common, entryPoints: ['dist/esm/index.js'], outfile: 'dist/cjs/index.js', format: 'cjs' });
await build({ ...common, entryPoints: ['dist/esm/index.js'], outfile: 'dist/esm/index.js', format: 'esm', plugins: [builtinsByRequire], banner: { js: requireBanner } });

// The modules cli.ts loads with `await import('./…')`: bundles of their own.
const lazy = [...readFileSync(`${root}src/cli.ts`, 'utf8').matchAll(/await import\('(\.\/[^']+)'\)/g)].map((m) => m[1]);
await build({ ...common, entryPoints: ['dist/cjs/cli.js'], outfile: 'dist/cjs/cli.js', format: 'cjs', external: lazy });
for (const path of lazy) await build({ ...common, entryPoints: [`dist/cjs/${path}`], outfile: `dist/cjs/${path}`, format: 'cjs' });
writeFileSync(
  `${root}dist/esm/cli.js`,
  `#!/usr/bin/env node
// The grace command is built once, as CommonJS (../cjs/cli.js; scripts/bundle.mjs says why): this path runs it.
import { createRequire } from 'node:module';
createRequire(import.meta.url)('../cjs/cli.js');
`,
);
