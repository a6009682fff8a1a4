import * as grpc from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { gracegrpc, GraceError } from '../src/index.ts';
import { get, makeCertificate, portOf, startFixture, tempDir, waitForExit, waitUntil, type Fixture } from './helpers.ts';
import { testService, type Reply } from './fixtures/grpc-service.ts';

const GRPC_FIXTURE = new URL('./fixtures/grpc-app.ts', import.meta.url).pathname;
const local = { port: 0, host: '127.0.0.1' };

const TestClient = grpc.makeGenericClientConstructor(testService, 'Test');
type Client = InstanceType<typeof TestClient>;

function startGrpcApp(t: TestContext, config: object): Fixture {
  return startFixture(t, config, {}, { file: process.execPath, args: ['--import', 'tsx', GRPC_FIXTURE] });
}

/** A client on its own connection (grpc-js shares connections between clients unless told not to). */
function client(t: TestContext, target: string, options: { tls?: string } = {}): Client {
  const credentials = options.tls ? grpc.credentials.createSsl(readFileSync(options.tls)) : grpc.credentials.createInsecure();
  const c = new TestClient(target, credentials, {
    'grpc.use_local_subchannel_pool': 1,
    ...(options.tls ? { 'grpc.ssl_target_name_override': 'localhost', 'grpc.default_authority': 'localhost' } : {}),
  });
  t.after(() => c.close());
  return c;
}

function sleep(c: Client, ms: number, report = false): Promise<Reply> {
  return new Promise((resolve, reject) => {
    c.makeUnaryRequest('/grace.test.Test/Sleep', testService.sleep.requestSerialize, testService.sleep.responseDeserialize, { ms, report }, { deadline: Date.now() + 20_000 }, (err, reply) =>
      err ? reject(err) : resolve(reply as Reply),
    );
  });
}

function count(c: Client, n: number, everyMs: number, onMessage: (reply: Reply) => void = () => {}): Promise<Reply[]> {
  return new Promise((resolve, reject) => {
    const replies: Reply[] = [];
    const stream = c.makeServerStreamRequest('/grace.test.Test/Count', testService.count.requestSerialize, testService.count.responseDeserialize, { n, everyMs, report: true }, {
      deadline: Date.now() + 20_000,
    });
    stream.on('data', (reply: Reply) => {
      replies.push(reply);
      onMessage(reply);
    });
    stream.on('error', reject);
    stream.on('status', (status: grpc.StatusObject) => (status.code === grpc.status.OK ? resolve(replies) : undefined));
  });
}

/** The exit status a generation reported as it exited (it may be gone before we look). */
async function exitCode(app: Fixture, pid: number): Promise<unknown> {
  const exit = await app.waitFor((e) => e.event === 'exit' && e.pid === pid);
  await waitForExit(pid);
  return exit.code;
}

function grpcError(err: unknown): grpc.ServiceError {
  assert.ok(err instanceof Error && 'code' in err, `expected a gRPC error, got ${err}`);
  return err as grpc.ServiceError;
}

test('20 restarts under a loop of calls lose no call', { timeout: 300_000 }, async (t) => {
  const app = startGrpcApp(t, { listen: local });
  let current = await app.ready();
  const target = `127.0.0.1:${portOf(current)}`;
  const clients = Array.from({ length: 8 }, () => client(t, target));
  const pids = new Set<number>();
  const failures: unknown[] = [];
  let calls = 0;
  // Answered by a generation that had already handed over: in flight at its drain.
  let finishedByOld = 0;
  const retired = new Set<number>();
  let running = true;
  // One client's calls take 300 ms, so restarts land on calls in flight; the others' 20 ms.
  const loops = clients.map(async (c, i) => {
    while (running) {
      try {
        const { pid } = await sleep(c, i === 0 ? 300 : 20);
        pids.add(pid);
        if (retired.has(pid)) finishedByOld++;
        calls++;
      } catch (err) {
        failures.push(err);
      }
    }
  });
  const restarts = 20;
  for (let i = 0; i < restarts; i++) {
    const old = current.pid;
    const answered = calls;
    process.kill(old, 'SIGUSR2');
    current = await app.handedOver(old);
    retired.add(old);
    await waitForExit(old, 30_000);
    // Calls go on against the new generation before the next restart.
    await waitUntil(() => calls >= answered + 20, 15_000, () => 'calls to go on');
  }
  running = false;
  await Promise.all(loops);
  t.diagnostic(`${calls} calls, ${restarts} restarts, ${failures.length} failed, ${pids.size} pids answering, ${finishedByOld} finished by a generation after its handover`);
  assert.deepEqual(failures.map((e) => String(e)), []);
  assert.equal(pids.size, restarts + 1, 'every generation answered');
  assert.ok(finishedByOld > 0, 'restarts landed on calls in flight');
  assert.ok(pids.has(current.pid));
});

test('a server-streaming call in flight at a restart completes from the old process', { timeout: 60_000 }, async (t) => {
  const app = startGrpcApp(t, { listen: local });
  const first = await app.ready();
  const target = `127.0.0.1:${portOf(first)}`;
  const c = client(t, target);
  let restarted = false;
  const stream = count(c, 10, 100, () => {
    if (restarted) return;
    restarted = true;
    process.kill(first.pid, 'SIGUSR2');
  });
  const second = await app.handedOver(first.pid);
  const replies = await stream;
  assert.deepEqual(
    replies.map((r) => r.i),
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
  );
  assert.ok(replies.every((r) => r.pid === first.pid), 'every message came from the old process');
  assert.equal((await sleep(c, 0)).pid, second.pid, 'the same client reaches the new generation');
  assert.equal(await exitCode(app, first.pid), 0);
  assert.ok(app.events.some((e) => e.event === 'stopped' && e.pid === first.pid && e.forced === 0));
});

test('over TLS on a unix socket, beside an HTTP server: both are handed over', { timeout: 60_000 }, async (t) => {
  const dir = tempDir(t);
  const tls = makeCertificate(dir);
  const socketPath = join(dir, 'grpc.sock');
  const app = startGrpcApp(t, { listen: socketPath, http: local, tls });
  const first = await app.ready();
  const httpPort = portOf(first, 1);
  const c = client(t, `unix://${socketPath}`, { tls: tls.cert });
  assert.equal((await sleep(c, 0)).pid, first.pid);
  const slow = sleep(c, 1000, true);
  await app.waitFor((e) => e.event === 'call-start' && e.pid === first.pid);
  process.kill(first.pid, 'SIGUSR2');
  const second = await app.handedOver(first.pid);
  assert.equal((await slow).pid, first.pid, 'the call in flight finishes in the old process');
  assert.equal(await exitCode(app, first.pid), 0); // its last line read: its 'stopped' too
  assert.equal((await sleep(c, 0)).pid, second.pid);
  assert.equal((await get({ port: httpPort }, '/')).json.pid, second.pid);
  assert.ok(app.events.some((e) => e.event === 'stopped' && e.pid === first.pid && e.forced === 0), 'drained without forcing');
});

test('a stop lets calls in flight finish and refuses new ones with UNAVAILABLE once the listener is closed', { timeout: 60_000 }, async (t) => {
  const app = startGrpcApp(t, { listen: local });
  const first = await app.ready();
  const target = `127.0.0.1:${portOf(first)}`;
  const busy = client(t, target);
  const unary = sleep(busy, 1500, true);
  const stream = count(busy, 8, 150);
  await app.waitFor((e) => e.event === 'call-start' && e.method === 'count');
  await app.waitFor((e) => e.event === 'call-start' && e.method === 'sleep');
  const fresh = client(t, target);
  assert.equal((await sleep(fresh, 0)).pid, first.pid, 'served up to the stop');
  process.kill(first.pid, 'SIGTERM');
  await app.waitFor((e) => e.event === 'shutdown-started');
  // Both the client that heard GOAWAY and one that never connected find no listener.
  for (const c of [fresh, busy, client(t, target)]) {
    await assert.rejects(sleep(c, 0), (err) => grpcError(err).code === grpc.status.UNAVAILABLE);
  }
  assert.equal((await unary).pid, first.pid, 'the unary call in flight finished');
  assert.equal((await stream).length, 8, 'the stream in flight finished');
  assert.equal(await exitCode(app, first.pid), 0);
  assert.ok(app.events.some((e) => e.event === 'stopped' && e.reason === 'signal' && e.forced === 0));
});

test('a call still running at the shutdown deadline is cut, counted as forced, and the exit status is 1', { timeout: 60_000 }, async (t) => {
  const app = startGrpcApp(t, { listen: local, options: { shutdownTimeout: 1000 } });
  const first = await app.ready();
  const c = client(t, `127.0.0.1:${portOf(first)}`);
  const stuck = sleep(c, 15_000, true);
  await app.waitFor((e) => e.event === 'call-start');
  const stopped = Date.now();
  process.kill(first.pid, 'SIGTERM');
  await assert.rejects(stuck, (err) => grpcError(err).code !== grpc.status.OK);
  const cutAfter = Date.now() - stopped;
  assert.ok(cutAfter >= 900 && cutAfter < 5000, `cut at the deadline, after ${cutAfter} ms`);
  assert.equal(await exitCode(app, first.pid), 1, 'a forced stop exits 1');
  assert.ok(app.events.some((e) => e.event === 'stopped' && e.forced === 1), JSON.stringify(app.events));
  assert.match(app.log, /destroyed 1 connection\(s\) still open after 1000 ms/);
});

for (const secure of [false, true]) {
  test(`a ${secure ? 'TLS' : 'plaintext'} client that connects and never sends nor reads does not hold the stop: exit 0, nothing destroyed by force`, { timeout: 60_000 }, async (t) => {
    const tls = secure ? makeCertificate(tempDir(t)) : undefined;
    const app = startGrpcApp(t, { listen: local, tls, options: { shutdownTimeout: 10_000 } });
    const first = await app.ready();
    // No data listener: the socket stays paused, so it never reads grpc-js's SETTINGS, GOAWAY or FIN.
    const silent = connect(portOf(first), '127.0.0.1');
    silent.on('error', () => {});
    t.after(() => silent.destroy());
    await app.waitFor((e) => e.event === 'connection');
    process.kill(first.pid, 'SIGTERM');
    assert.equal(await exitCode(app, first.pid), 0);
    assert.deepEqual(
      app.events.filter((e) => e.event === 'stopped').map((e) => [e.reason, e.forced]),
      [['signal', 0]],
    );
    assert.doesNotMatch(app.log, /destroyed \d+ connection/);
  });
}

test('a plaintext client that sent its preface but never reads is let go once its connection carries no call', { timeout: 60_000 }, async (t) => {
  const app = startGrpcApp(t, { listen: local, options: { shutdownTimeout: 10_000 } });
  const first = await app.ready();
  const stalled = connect(portOf(first), '127.0.0.1');
  stalled.on('error', () => {});
  t.after(() => stalled.destroy());
  // The client preface and an empty SETTINGS frame; then nothing, and nothing read.
  stalled.write(Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0])]));
  await app.waitFor((e) => e.event === 'connection');
  // A call on another connection is still in flight at the stop: it is waited for.
  const busy = client(t, `127.0.0.1:${portOf(first)}`);
  const call = sleep(busy, 1000, true);
  await app.waitFor((e) => e.event === 'call-start');
  process.kill(first.pid, 'SIGTERM');
  assert.equal((await call).pid, first.pid);
  assert.equal(await exitCode(app, first.pid), 0);
  assert.deepEqual(
    app.events.filter((e) => e.event === 'stopped').map((e) => [e.reason, e.forced]),
    [['signal', 0]],
  );
});

test('gracegrpc.target refuses a server without createConnectionInjector, naming what is missing', () => {
  const old = { tryShutdown() {}, forceShutdown() {} };
  assert.throws(
    () => gracegrpc.target(old as unknown as gracegrpc.GrpcServer, {}, 0),
    (err) => err instanceof GraceError && err.code === 'ERR_GRACE_UNSUPPORTED' && /createConnectionInjector/.test(err.message),
  );
  assert.throws(
    () => gracegrpc.target(new grpc.Server(), {} as grpc.ServerCredentials, 0),
    (err) => err instanceof GraceError && err.code === 'ERR_GRACE_OPTIONS' && /ServerCredentials/.test(err.message),
  );
});
