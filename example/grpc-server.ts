// A gRPC service served by grace, beside an HTTP health endpoint. Start it,
// run example/grpc-client.ts in another terminal, `kill -USR2 <pid>` a few
// times: the client's calls keep answering, from one new pid after another,
// and a countdown started before a reload finishes from the old pid.
import * as grpc from '@grpc/grpc-js';
import http from 'node:http';
import { gracegrpc, gracehttp, Shutdown } from '../src/index.js';
import { GreeterService, type CountdownRequest, type HelloReply, type HelloRequest } from './greeter.js';

const grpcPort = Number(process.env.GRPC_PORT ?? 50051);
const httpPort = Number(process.env.PORT ?? 8080);
const host = process.env.HOST ?? '127.0.0.1';

const grpcServer = new grpc.Server();
grpcServer.addService(GreeterService, {
  sayHello(call: grpc.ServerUnaryCall<HelloRequest, HelloReply>, callback: grpc.sendUnaryData<HelloReply>) {
    const { name, delayMs } = call.request;
    setTimeout(() => callback(null, { message: `hello ${name || 'you'}`, pid: process.pid }), delayMs);
  },
  countdown(call: grpc.ServerWritableStream<CountdownRequest, HelloReply>) {
    let n = call.request.from;
    const tick = () => {
      call.write({ message: String(n), pid: process.pid });
      if (n-- <= 0) return call.end();
      setTimeout(tick, call.request.everyMs || 1000);
    };
    tick();
  },
});

// Readiness answers 503 from the moment this generation starts draining.
const shutdown = new Shutdown();
const health = http.createServer((req, res) => {
  res.statusCode = shutdown.isShuttingDown() ? 503 : 200;
  res.end(`pid ${process.pid}\n`);
});

// No grpcServer.bindAsync: grace listens, hands the socket over on a reload,
// and gives grpc-js each connection. Draining is gRPC's GracefulStop.
const graceful = await gracehttp.start(
  [
    gracegrpc.target(grpcServer, grpc.ServerCredentials.createInsecure(), { port: grpcPort, host }),
    { server: health, listen: { port: httpPort, host } },
  ],
  { shutdown, pidFile: process.env.PID_FILE },
);
const [grpcAddress, httpAddress] = graceful.addresses().map((a) => (typeof a === 'string' ? a : `${a.address}:${a.port}`));
process.stderr.write(
  `example: gRPC on ${grpcAddress}, health on http://${httpAddress}/ (pid ${process.pid}); reload with: kill -USR2 ${process.pid}; stop with: kill -TERM ${process.pid}\n`,
);
await graceful.done;
