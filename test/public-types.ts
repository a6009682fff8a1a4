// Compiled by `npm run typecheck`, never run: what the package root gives a
// TypeScript user. A line here that stops compiling is a broken promise.
import type { Server as GrpcJsServer, ServerCredentials } from '@grpc/grpc-js';
import type { EventEmitter } from 'node:events';
import type { Server as SocketIoServer } from 'socket.io';
import type { WebSocketServer } from 'ws';
import type {
  Closable,
  Drainer,
  gracegrpc,
  GrpcServer,
  Graceful,
  GracefulEvents,
  gracehttp,
  gracenet,
  HealthOptions,
  Phase,
  RegisterOptions,
  ServeOptions,
  ServeTarget,
  Shutdown,
  ShutdownEvents,
  ShutdownOptions,
  ShutdownReport,
  StopReason,
  WarmUpOptions,
  WarmUpRequest,
  WarmUpResponse,
  WarmUpSend,
  WebSocketServerLike,
} from '../src/index.ts';

type Assert<T extends true> = T;
type Equal<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type HasNo<T, K extends PropertyKey> = K extends keyof T ? false : true;

// The seams tests use to stand in for the process are not options an app can pass.
export type NoNetOption = Assert<HasNo<ServeOptions, 'net'>>;
export type NoHostOption = Assert<HasNo<ServeOptions, 'host'>>;

// The root's types are the ones gracehttp works with.
export type SameOptions = Assert<Equal<ServeOptions, NonNullable<Parameters<typeof gracehttp.serve>[2]>>>;
export type SameGraceful = Assert<Equal<Graceful, Awaited<ReturnType<typeof gracehttp.start>>>>;
export type SameTarget = Assert<ServeTarget[] extends Parameters<typeof gracehttp.serve>[0] ? true : false>;
export type GracefulEmits = Assert<Graceful extends EventEmitter<GracefulEvents> ? true : false>;
export type StopReasons = Assert<Equal<StopReason, 'handover' | 'signal' | 'stop' | 'crash'>>;
export type StoppedCarriesReason = Assert<Equal<GracefulEvents['stopped'][0]['reason'], StopReason>>;

// The shutdown registry's types.
export type ShutdownEmits = Assert<Shutdown extends EventEmitter<ShutdownEvents> ? true : false>;
export type ShutdownReports = Assert<Equal<Awaited<ReturnType<Shutdown['shutdown']>>, ShutdownReport>>;
export type Registers = Assert<Equal<Parameters<Shutdown['register']>, [closable: Closable, options?: RegisterOptions]>>;
export type Phases = Assert<Equal<Phase, 'intake' | 'drain' | 'resources'>>;
export type Constructs = Assert<Equal<ConstructorParameters<typeof Shutdown>, [options?: ShutdownOptions]>>;

// gracenet is fd inheritance for a user's own servers, not grace's internals.
export type NoProtocolParsing = Assert<HasNo<typeof gracenet, 'readListenEnv'>>;
export type NoNextGeneration = Assert<HasNo<typeof gracenet, 'nextGenerationCommand' | 'stripInspectorFlags'>>;
export type ServesNet = Assert<Equal<InstanceType<typeof gracenet.Net>, gracenet.Net>>;

// gracegrpc takes a grpc-js Server by its shape, and makes an ordinary serve target.
export type GrpcJsFits = Assert<GrpcJsServer extends GrpcServer<ServerCredentials> ? true : false>;
export type GrpcTarget = Assert<Equal<ReturnType<typeof gracegrpc.target>, ServeTarget>>;
export type GrpcCredentialsChecked = Assert<Equal<Parameters<typeof gracegrpc.target<ServerCredentials>>[1], ServerCredentials>>;
export type TargetDrainer = Assert<Equal<ServeTarget['drainer'], Drainer | undefined>>;

// webSockets takes ws' and socket.io's servers by their shape, one or a list.
export type WsFits = Assert<WebSocketServer extends WebSocketServerLike ? true : false>;
export type SocketIoFits = Assert<SocketIoServer extends WebSocketServerLike ? true : false>;
export const webSocketsList = (wss: WebSocketServer, io: SocketIoServer): ServeOptions => ({ webSockets: [wss, io] });

// Health probes: the serve option and the standalone handler take the same options.
export type HealthOption = Assert<Equal<ServeOptions['health'], boolean | HealthOptions | undefined>>;
export type HealthHandlerTakes = Assert<HealthOptions extends NonNullable<Parameters<typeof gracehttp.health>[0]> ? true : false>;
export type HealthHandlerAnswers = Assert<Equal<ReturnType<ReturnType<typeof gracehttp.health>>, boolean>>;

// warmUp takes paths, request objects or a function given `send`.
export const warmUpPaths: ServeOptions = { warmUp: ['/', { path: '/x', method: 'POST', headers: { a: 'b' }, body: 'x' }] };
export const warmUpFunction: WarmUpOptions = {
  requests: async (send: WarmUpSend) => {
    const response: WarmUpResponse = await send('/');
    const next: WarmUpRequest = { path: '/me', headers: { cookie: response.body } };
    await send(next);
  },
  rounds: 10,
  concurrency: 2,
  timeout: 1000,
  failOnError: true,
};
