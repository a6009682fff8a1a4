/** Serving a @grpc/grpc-js server with hot restart and graceful stop (GOAWAY, then the calls in flight finish). */
export { target, serve, start, type GrpcServer } from '../serving/grpc.js';
