// Where a bench's figures go: bench/results/NAME.json, with the machine, the
// load average at the start (this VM is shared: a figure means little without
// it), the date and the arguments, so every figure a README quotes has a file
// that printed it. (run.ts, cost.ts and workers.ts write the same shape.)
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';

const RESULTS = new URL('./results/', import.meta.url).pathname;

/** What a figure was measured on: CPUs, memory, OS and node. */
export function machine(): string {
  return `${os.cpus().length} × ${os.cpus()[0]?.model.trim()}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, ${os.platform()} ${os.release()}, node ${process.version}`;
}

/** The header every results file starts with; take it before the run, while the load average is the machine's own. */
export function resultsHeader(args: object): { machine: string; loadAverage: number[]; date: string; args: object } {
  return { machine: machine(), loadAverage: os.loadavg().map((l) => Number(l.toFixed(2))), date: new Date().toISOString(), args };
}

/** This node's major version, for default names such as `handovers-node20`. */
export const nodeMajor = process.versions.node.split('.')[0]!;

/** Writes bench/results/NAME.json and returns its path relative to the checkout, to print. */
export function writeResults(name: string, result: object): string {
  mkdirSync(RESULTS, { recursive: true });
  writeFileSync(join(RESULTS, `${name}.json`), `${JSON.stringify(result, null, 2)}\n`);
  return `bench/results/${name}.json`;
}
