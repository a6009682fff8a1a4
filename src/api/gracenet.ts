/** Inherited-or-fresh listening sockets and the LISTEN_FDS protocol. */
// Reading and writing the protocol's variables, and the next generation's
// command, are Net's and gracehttp's own business: not exported.
export { Net, processNet, type Listener, type Handoff, type NetOptions } from '../sockets/net.js';
export { parseListenSpec, type ListenSpec, type ParsedListenSpec } from '../sockets/listen-spec.js';
export { LISTEN_FDS_START, type InheritedFd, type ListenEnv } from '../platform/listen-env.js';
