// Calls example/grpc-server.ts in a loop and says which pid answers: run it
// while you reload the server. Ctrl-C prints the totals.
import * as grpc from '@grpc/grpc-js';
import { Greeter, type HelloReply } from './greeter.js';

const target = process.argv[2] ?? `127.0.0.1:${process.env.GRPC_PORT ?? 50051}`;
const client = new Greeter(target, grpc.credentials.createInsecure());

let calls = 0;
let failed = 0;
let lastPid = 0;
let running = true;
process.once('SIGINT', () => (running = false));

function sayHello(delayMs: number): Promise<HelloReply> {
  return new Promise((resolve, reject) =>
    client.sayHello({ name: 'client', delayMs }, { deadline: Date.now() + 10_000 }, (err: grpc.ServiceError | null, reply: HelloReply) =>
      err ? reject(err) : resolve(reply),
    ),
  );
}

// A countdown in flight across a reload finishes from the pid that started it.
const countdown = client.countdown({ from: 5, everyMs: 1000 });
countdown.on('data', (reply: HelloReply) => console.log(`countdown ${reply.message} from pid ${reply.pid}`));
countdown.on('error', (err: Error) => console.log(`countdown failed: ${err.message}`));

while (running) {
  try {
    const { pid } = await sayHello(50);
    calls++;
    if (pid !== lastPid) console.log(`answered by pid ${pid}`);
    lastPid = pid;
  } catch (err) {
    failed++;
    console.log(`call failed: ${(err as Error).message}`);
  }
}
console.log(`${calls} calls, ${failed} failed`);
client.close();
