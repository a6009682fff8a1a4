import { once } from 'node:events';
import type { ListenOptions, Server } from 'node:net';

/** `server.listen` as a promise that rejects with the listen error. */
export async function listen(server: Server, options: ListenOptions | { fd: number }): Promise<void> {
  // once() rejects on an 'error' before 'listening', and removes both listeners either way.
  const listening = once(server, 'listening');
  server.listen(options);
  await listening;
}
