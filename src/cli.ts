#!/usr/bin/env node
// The `grace` command: `grace reload` for deploy scripts, `grace run` for
// supervisor mode (a stable pid for systemd, Docker and Kubernetes).
import { parseArgs } from 'node:util';
import { GraceError } from './errors.js';
import { reload } from './reload.js';
import { Supervisor } from './supervisor.js';

const USAGE = `usage:
  grace reload --pid-file FILE [--timeout MS]
      Send SIGUSR2 to the grace process in FILE and wait until a new generation
      serves and the old one has exited. Exit 0 on success, 1 (saying why) if
      the new generation failed or timed out; the old one then still serves.

  grace run [--listen SPEC]... [--pid-file FILE] [--ready-timeout MS] [--stop-timeout MS] -- COMMAND [ARGS...]
      Supervisor mode: hold the listening sockets (SPEC: PORT, HOST:PORT,
      [IPv6]:PORT or a unix socket path; or sockets from systemd socket
      activation) and run COMMAND as the app. SIGUSR2 or SIGHUP: start a new
      generation, retire the old once the new one is ready. SIGINT/SIGTERM:
      graceful stop, exit with the app's status. A crashed app is restarted.
`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === 'reload') return runReload(rest);
  if (command === 'run') return runSupervisor(rest);
  if (command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  throw new GraceError('ERR_GRACE_USAGE', command ? `unknown command ${JSON.stringify(command)}` : 'no command given');
}

async function runReload(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { 'pid-file': { type: 'string' }, timeout: { type: 'string' } } });
  const pidFile = values['pid-file'];
  if (!pidFile) throw new GraceError('ERR_GRACE_USAGE', 'grace reload needs --pid-file FILE');
  const result = await reload({ pidFile, timeout: milliseconds('--timeout', values.timeout) });
  process.stdout.write(`reloaded: old pid ${result.oldPid}, new pid ${result.newPid} (generation ${result.generation})\n`);
  return 0;
}

async function runSupervisor(args: string[]): Promise<number> {
  const split = args.indexOf('--');
  if (split < 0) throw new GraceError('ERR_GRACE_USAGE', 'grace run needs -- before the app command');
  const { values } = parseArgs({
    args: args.slice(0, split),
    options: {
      listen: { type: 'string', multiple: true },
      'pid-file': { type: 'string' },
      'ready-timeout': { type: 'string' },
      'stop-timeout': { type: 'string' },
    },
  });
  const supervisor = new Supervisor({
    command: args.slice(split + 1),
    listen: values.listen ?? [],
    pidFile: values['pid-file'],
    readyTimeout: milliseconds('--ready-timeout', values['ready-timeout']),
    stopTimeout: milliseconds('--stop-timeout', values['stop-timeout']),
  });
  return supervisor.run();
}

function milliseconds(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) throw new GraceError('ERR_GRACE_USAGE', `${flag} takes a whole number of milliseconds, got ${JSON.stringify(value)}`);
  return Number(value);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: Error & { code?: string }) => {
    process.stderr.write(`grace: ${err.message}\n`);
    if (err.code === 'ERR_GRACE_USAGE') process.stderr.write(`\n${USAGE}`);
    process.exitCode = err.code === 'ERR_GRACE_USAGE' ? 2 : 1;
  },
);
