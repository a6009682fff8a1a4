// Every flag of every `grace` command: a value it cannot mean is a usage
// error (exit 2) naming the flag and what it takes, with the usage after it;
// never a silent choice (the last of two --workers, no pid file for an empty
// one), never exit 1 with no usage. Real `grace` processes, one per case.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { CLI } from './helpers.ts';

function grace(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    // execFile's callback comes once the process has exited and its output is read.
    execFile(process.execPath, ['--import', 'tsx', CLI, ...args], { timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

const TIMEOUT_RANGE = /must be a whole number of milliseconds from 1 to 2147483647/;
const RUN = ['--', process.execPath, '-e', '0'];

// Not here: `--env-file ''`. node reads --env-file anywhere in its own command
// line, grace's flags included, and exits 9 (`node: : not found`) before grace runs.
const cases: Array<{ args: string[]; says: RegExp }> = [
  // A timeout of 0 waits for nothing: reload gave up while the reload went on, every start failed.
  { args: ['reload', '--pid-file', 'x', '--timeout', '0'], says: new RegExp(`--timeout ${TIMEOUT_RANGE.source}.*got "0"`) },
  { args: ['stop', '--pid-file', 'x', '--timeout', '0'], says: new RegExp(`--timeout ${TIMEOUT_RANGE.source}`) },
  { args: ['scale', '2', '--pid-file', 'x', '--timeout', '0'], says: new RegExp(`--timeout ${TIMEOUT_RANGE.source}`) },
  { args: ['run', '--ready-timeout', '0', ...RUN], says: new RegExp(`--ready-timeout ${TIMEOUT_RANGE.source}`) },
  { args: ['run', '--stop-timeout', '0', ...RUN], says: new RegExp(`--stop-timeout ${TIMEOUT_RANGE.source}`) },
  // A flag given twice: which one was meant?
  { args: ['run', '--workers', '2', '--workers', '3', ...RUN], says: /--workers is given more than once: give it once/ },
  { args: ['run', '--standby', '1', '--standby=2', ...RUN], says: /--standby is given more than once/ },
  { args: ['run', '--no-log-prefix', '--no-log-prefix', ...RUN], says: /--no-log-prefix is given more than once/ },
  { args: ['reload', '--pid-file', 'a', '--pid-file', 'b'], says: /--pid-file is given more than once/ },
  { args: ['status', '--pid-file', 'a', '--json', '--json'], says: /--json is given more than once/ },
  { args: ['run', '--listen', '127.0.0.1:8080', '--listen', '127.0.0.1:8080', ...RUN], says: /--listen 127\.0\.0\.1:8080 is given twice: give each socket once/ },
  // An empty value is no value.
  { args: ['run', '--pid-file', '', ...RUN], says: /--pid-file needs a value, got an empty one/ },
  { args: ['reload', '--pid-file='], says: /--pid-file needs a value, got an empty one/ },
  { args: ['run', '--listen', '', ...RUN], says: /--listen needs a value, got an empty one/ },
  { args: ['run', '--stop-delay', '', ...RUN], says: /--stop-delay needs a value, got an empty one/ },
  // Forms: a listen spec, a size, a boolean.
  { args: ['run', '--listen', 'localhost', ...RUN], says: /--listen: invalid listen spec "localhost": expected a port \("8080" or ":8080"\), "host:port"/ },
  { args: ['run', '--max-memory', '512MB', ...RUN], says: /--max-memory takes a size .* with K, M or G \(powers of 1024.*got "512MB": MB could mean powers of 1000 or of 1024; write 512M for 512 MiB/ },
  { args: ['run', '--max-memory', '1.5', ...RUN], says: /--max-memory takes a size from 1 byte/ },
  { args: ['status', '--pid-file', 'a', '--json=yes'], says: /--json takes no value/ },
  { args: ['run', '--watchdog', '0', ...RUN], says: /--watchdog must be at least 1000 ms, got 0/ },
  // The crash-loop policy: a count from 1, a duration from 0.
  { args: ['run', '--max-restarts', '0', ...RUN], says: /--max-restarts must be a whole number from 1 to 10000; got "0"/ },
  { args: ['run', '--max-restarts', '10001', ...RUN], says: /--max-restarts must be a whole number from 1 to 10000; got "10001"/ },
  { args: ['run', '--min-uptime', '2147483648', ...RUN], says: /--min-uptime must be a whole number of milliseconds from 0 to 2147483647 .*got "2147483648"/ },
  { args: ['run', '--min-uptime', '1s', ...RUN], says: /--min-uptime must be a whole number of milliseconds from 0/ },
  { args: ['run', '--watch-path', '/nonexistent/grace-test', ...RUN], says: /--watch-path must be a directory; "\/nonexistent\/grace-test" is not one/ },
  { args: ['run', '--watch', '--watch', ...RUN], says: /--watch is given more than once/ },
];

test('a flag given a value it cannot mean is a usage error (exit 2) naming the flag and its range or form', { timeout: 120_000 }, async () => {
  // A few at a time: each case is a whole node process.
  for (let i = 0; i < cases.length; i += 4) {
    await Promise.all(
      cases.slice(i, i + 4).map(async ({ args, says }) => {
        const result = await grace(args);
        const shown = JSON.stringify(args);
        assert.equal(result.code, 2, `${shown}: ${result.stderr}`);
        assert.match(result.stderr, new RegExp(`^grace: ${says.source}`), shown);
        assert.match(result.stderr, new RegExp(`\n\nusage:\n {2}grace ${args[0]} `), `${shown}: the command's usage follows`);
        assert.equal(result.stdout, '', shown);
      }),
    );
  }
});

test('zero stays valid where it means something: --stop-delay 0 is no delay', { timeout: 30_000 }, async () => {
  // With the app gone at once (not found), grace run exits 127: it got past its flags.
  const result = await grace(['run', '--stop-delay', '0', '--', 'grace-test-no-such-command']);
  assert.equal(result.code, 127, result.stderr);
});
