// gracenet on its own, through real processes and sockets: processNet() is
// one Net per process, handoff() gives the fds and names of what listens,
// and closeUnclaimed() closes the inherited sockets nobody adopted, so the
// kernel stops queueing connections no one will accept.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { test, type TestContext } from 'node:test';
import { get, startFixture, waitForExit, type Fixture } from './helpers.ts';

const APP = new URL('./fixtures/gracenet-app.ts', import.meta.url).pathname;

function startApp(t: TestContext, env: NodeJS.ProcessEnv = {}): Fixture {
  return startFixture(t, {}, env, { file: process.execPath, args: ['--import', 'tsx', APP] });
}

/** Whether a TCP connect to the port is refused (nothing listens) or accepted by the kernel. */
function connectOutcome(port: number): Promise<'refused' | 'connected'> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    socket.once('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('error', (err: NodeJS.ErrnoException) => (err.code === 'ECONNREFUSED' ? resolve('refused') : reject(err)));
  });
}

/** The parent hands both sockets over and exits; the child serves the one it adopted. */
async function handOver(t: TestContext, env: NodeJS.ProcessEnv = {}) {
  const app = startApp(t, env);
  const parent = await app.waitFor((e) => e.event === 'parent-listening');
  const child = await app.waitFor((e) => e.event === 'child-listening');
  await app.waitFor((e) => e.event === 'parent-closed-b');
  process.kill(parent.pid, 'SIGTERM');
  await waitForExit(parent.pid);
  if (app.proc.exitCode === null) await once(app.proc, 'exit');
  const [portA, portB] = parent.ports as [number, number];
  return { app, parent, child, portA, portB };
}

test('processNet() is one Net per process, and handoff() lists every listening server\'s fd and requested name, in order', { timeout: 30_000 }, async (t) => {
  const { app, parent, child } = await handOver(t);
  assert.equal(parent.sameNet, true);
  const handoff = parent.handoff as { fds: number[]; names: string[] };
  assert.equal(handoff.fds.length, 2);
  assert.ok(handoff.fds.every((fd) => Number.isInteger(fd) && fd > 2), `fds: ${handoff.fds}`);
  assert.deepEqual(handoff.names, ['tcp:127.0.0.1:0', 'tcp:127.0.0.1:0'], 'the requested specs, by which a next generation matches them');
  assert.equal(parent.unclaimed, 0, 'nothing was inherited, nothing to close');
  const afterClose = (app.events.find((e) => e.event === 'parent-closed-b')!.handoff) as { fds: number[]; names: string[] };
  assert.deepEqual(afterClose, { fds: [handoff.fds[0]], names: ['tcp:127.0.0.1:0'] }, 'a closed server is not handed on');
  process.kill(child.pid, 'SIGTERM');
  await waitForExit(child.pid);
});

test('a child adopts the inherited socket it asks for; closeUnclaimed() closes the other, so connecting to it is refused', { timeout: 30_000 }, async (t) => {
  const { child, portA, portB } = await handOver(t);
  assert.deepEqual(child.inherited, [{ fd: 3 }, { fd: 4 }], 'LISTEN_FDS=2, no names');
  assert.equal(child.port, portA, 'adopted, not bound afresh');
  assert.deepEqual(child.unclaimed, [{ fd: 4 }]);
  assert.equal(child.envCleared, true, 'the protocol variables are gone from process.env');
  // The parent has exited: whoever answers on A is the child, on the socket the parent bound.
  for (let i = 0; i < 5; i++) assert.equal((await get({ port: portA }, '/')).json.pid, child.pid);
  assert.equal(await connectOutcome(portB), 'refused', 'no process holds B any more');
  process.kill(child.pid, 'SIGTERM');
  await waitForExit(child.pid);
});

test('without closeUnclaimed() the unadopted socket keeps queueing connections nobody accepts (what it prevents)', { timeout: 30_000 }, async (t) => {
  const { child, portB } = await handOver(t, { GRACENET_KEEP_UNCLAIMED: '1' });
  assert.deepEqual(child.unclaimed, []);
  assert.equal(await connectOutcome(portB), 'connected', 'the kernel still accepts for a socket no one serves');
  process.kill(child.pid, 'SIGTERM');
  await waitForExit(child.pid);
});
