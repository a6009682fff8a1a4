// Structured lifecycle lines: a pino-shaped logger gets the fields first, a
// plain one the text alone; debug lines only when asked for.
import assert from 'node:assert/strict';
import http from 'node:http';
import { test } from 'node:test';
import { resolveLogger, takesFieldsFirst, timestamped, type Logger } from '../src/platform/logger.ts';
import { Net } from '../src/sockets/net.ts';
import { startWith } from '../src/api/serve.ts';

type Call = { level: string; args: unknown[] };

/** The shape of pino: (fields, message), `child()` and `bindings()`. */
function pinoShaped(): Logger & { calls: Call[] } {
  const calls: Call[] = [];
  const at = (level: string) => (...args: unknown[]) => void calls.push({ level, args });
  return Object.assign(
    { calls, child: () => pinoShaped(), bindings: () => ({}) },
    { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') },
  ) as unknown as Logger & { calls: Call[] };
}

test('pino and bunyan shapes take fields first; console does not; a marked logger does', () => {
  assert.equal(takesFieldsFirst(pinoShaped()), true);
  assert.equal(takesFieldsFirst({ ...console, child() {}, level() {} } as unknown as Logger), true);
  assert.equal(takesFieldsFirst(console), false);
  const marked = { info() {}, warn() {}, error() {}, [Symbol.for('grace.logFields')]: true };
  assert.equal(takesFieldsFirst(marked), true);
});

test('a serving generation\'s lines carry event, pid, generation and addresses for a fields logger', { timeout: 10_000 }, async () => {
  const logger = pinoShaped();
  const server = http.createServer((_req, res) => res.end());
  const graceful = await startWith({ net: new Net() }, server, { port: 0, host: '127.0.0.1' }, { restartSignal: false, stopSignals: [], exit: false, logger });
  const address = server.address(); // null once stopped
  await graceful.stop();
  const serving = logger.calls.find((c) => (c.args[0] as { event?: string }).event === 'serving');
  assert.ok(serving, JSON.stringify(logger.calls));
  const [fields, message] = serving.args as [Record<string, unknown>, string];
  assert.equal(fields.pid, process.pid);
  assert.equal(fields.generation, 1);
  assert.ok(address, 'it listened');
  assert.deepEqual(fields.addresses, [address]);
  assert.match(message, /^Serving 127\.0\.0\.1:\d+ with pid/);
  // Protocol detail goes to its debug level, which the logger filters itself.
  assert.ok(logger.calls.some((c) => c.level === 'debug' && (c.args[0] as { event: string }).event === 'transition'));
  for (const call of logger.calls) assert.equal(typeof (call.args[0] as { event?: unknown }).event, 'string', 'every line names its event');
});

test('a plain logger gets the text alone; a crash line brings the stack; debug waits for GRACE_DEBUG', () => {
  const lines: string[] = [];
  const plain = { debug: (m: string) => lines.push(`debug ${m}`), info: (m: string) => lines.push(m), warn: (m: string) => lines.push(m), error: (m: string) => lines.push(m) };
  const log = resolveLogger(plain, {});
  log.debug('hidden', { event: 'transition' });
  log.info('shown', { event: 'serving' });
  log.error('uncaught exception: boom', { event: 'crash', err: new Error('boom') }, { stack: true });
  assert.equal(lines[0], 'shown');
  assert.match(lines[1]!, /^uncaught exception: boom\nError: boom\n\s+at /);
  assert.equal(lines.length, 2);
  resolveLogger(plain, { GRACE_DEBUG: '1' }).debug('now shown', { event: 'transition' });
  resolveLogger(plain, { NODE_DEBUG: 'net,grace' }).debug('and by NODE_DEBUG', { event: 'transition' });
  assert.deepEqual(lines.slice(2), ['debug now shown', 'debug and by NODE_DEBUG']);
});

test('a logger that throws does not break the lifecycle', () => {
  const log = resolveLogger({ info: () => { throw new Error('disk full'); }, warn() {}, error() {} }, {});
  assert.doesNotThrow(() => log.info('x', { event: 'serving' }));
});

test('timestamps (grace run --timestamps): each line of a message starts with the time, a stack\'s too; a logger of the app\'s own is left to stamp its lines', () => {
  assert.equal(timestamped('grace: error: boom\n    at x', new Date(0)), '1970-01-01T00:00:00.000Z grace: error: boom\n1970-01-01T00:00:00.000Z     at x');
  const pino = pinoShaped();
  resolveLogger(pino, {}, { timestamps: true }).info('hello', { event: 'e' });
  assert.deepEqual(pino.calls, [{ level: 'info', args: [{ event: 'e' }, 'hello'] }]);
});
