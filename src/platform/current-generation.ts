/*
 * The generation serving in this process, one at a time: inherited sockets and
 * signals are the process's. The slot lives on `globalThis` under a registered
 * symbol so that every copy of the package in the process (an ESM and a CJS
 * one, two versions in node_modules) sees the same generation, and the
 * standalone health handler can ask it whether we are ready.
 */

/** What the rest of the process may ask of the serving generation. */
export interface CurrentGeneration {
  isReady(): boolean;
}

const SLOT = Symbol.for('grace-restart.current-generation');
type WithSlot = typeof globalThis & { [SLOT]?: CurrentGeneration };

/** The generation serving in this process, if any. */
export function currentGeneration(): CurrentGeneration | undefined {
  return (globalThis as WithSlot)[SLOT];
}

/** Takes the slot for `generation`; false if another one holds it. */
export function claimCurrentGeneration(generation: CurrentGeneration): boolean {
  const global = globalThis as WithSlot;
  if (global[SLOT] && global[SLOT] !== generation) return false;
  global[SLOT] = generation;
  return true;
}

/** Frees the slot, if `generation` holds it. */
export function releaseCurrentGeneration(generation: CurrentGeneration): void {
  const global = globalThis as WithSlot;
  if (global[SLOT] === generation) delete global[SLOT];
}
