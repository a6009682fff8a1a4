/** Inherited-or-fresh listening sockets and the LISTEN_FDS protocol. */
export { Net, processNet, type Listener, type Handoff, type NetOptions } from './net.js';
export { parseListenSpec, type ListenSpec, type ParsedListenSpec } from './listen-spec.js';
export { readListenEnv, LISTEN_FDS_START, MAX_LISTEN_FDS, type InheritedFd, type ListenEnv } from './listen-env.js';
export { nextGenerationCommand, stripInspectorFlags } from './next-generation.js';
