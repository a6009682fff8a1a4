// The Greeter service from greeter.proto, loaded with @grpc/proto-loader; shared
// by the example server and client.
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

export interface HelloRequest {
  name: string;
  delayMs: number;
}
export interface CountdownRequest {
  from: number;
  everyMs: number;
}
export interface HelloReply {
  message: string;
  pid: number;
}

const definition = protoLoader.loadSync(new URL('./greeter.proto', import.meta.url).pathname, { defaults: true });
const greeter = (grpc.loadPackageDefinition(definition).greeter as grpc.GrpcObject).Greeter as grpc.ServiceClientConstructor;

/** The service definition, for `server.addService`. */
export const GreeterService = greeter.service;
/** The client constructor: `new Greeter('127.0.0.1:50051', grpc.credentials.createInsecure())`. */
export const Greeter = greeter;
