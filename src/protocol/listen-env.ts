// The fd protocol's variables moved to platform/listen-env.ts. Only api/serve.ts
// (being split on another branch) still imports from here: delete this file
// once it imports '../platform/listen-env.js'.
export type { Starter } from '../platform/listen-env.js';
