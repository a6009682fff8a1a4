import { GraceError } from '../platform/errors.js';
import { readRss } from '../platform/proc.js';

/*
 * `--max-memory`: a worker whose resident set grows past the limit is
 * replaced gracefully (a new one starts, the old one is retired once the new
 * one is ready), as PM2's max_memory_restart does, but drained, not killed.
 * RSS comes from /proc/<pid>/status (VmRSS), so the limit works on Linux
 * only; elsewhere `grace run` refuses the option. It is the RSS of the
 * process grace started: run `node app.js`, not a shell or npm around it.
 * The table samples on its `memory` deadline (core/health.ts); here are the
 * sizes: the flag's, and how a sample is said.
 */

const UNITS: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };

// The largest size --max-memory takes: 2^53 − 1 bytes (8 PiB), the largest whole number a JS number holds exactly.
const MAX_BYTES = Number.MAX_SAFE_INTEGER;

/**
 * `1073741824`, `512M`, `1.5G`, `300k`, `512MiB` (powers of 1024) → bytes,
 * from 1 to 2^53 − 1. `512MB` is refused: MB is 10^6 bytes to some and 2^20
 * to others (PM2 and grace mean 2^20), so grace asks which.
 */
export function parseBytes(flag: string, text: string): number {
  const match = /^(\d+(?:\.\d+)?)([kmg](?:ib)?)?$/i.exec(text);
  const unit = match?.[2]?.[0]?.toLowerCase() ?? '';
  const bytes = match && (unit || !match[1]!.includes('.')) ? Math.round(Number(match[1]) * UNITS[unit]!) : NaN;
  if (!Number.isFinite(bytes) || bytes < 1 || bytes > MAX_BYTES) {
    const form = `${flag} takes a size from 1 byte to ${MAX_BYTES} bytes (8 PiB), in bytes or with K, M or G (powers of 1024: 512M or 512MiB is 512 MiB)`;
    const decimal = /^([\d.]+)([kmg])b$/i.exec(text);
    const which = decimal ? `: ${decimal[2]!.toUpperCase()}B could mean powers of 1000 or of 1024; write ${decimal[1]}${decimal[2]!.toUpperCase()} for ${decimal[1]} ${decimal[2]!.toUpperCase()}iB` : '';
    throw new GraceError('ERR_GRACE_USAGE', `${form}; got ${JSON.stringify(text)}${which}`);
  }
  return bytes;
}

/** Whether RSS can be read here (a Linux /proc). */
export function canReadRss(): boolean {
  return readRss(process.pid) !== undefined;
}

/** 123456789 → "118 MiB". */
export function formatBytes(bytes: number): string {
  if (bytes >= 1024 ** 3) return `${(bytes / 1024 ** 3).toFixed(1)} GiB`;
  if (bytes >= 1024 ** 2) return `${Math.round(bytes / 1024 ** 2)} MiB`;
  return `${Math.round(bytes / 1024)} KiB`;
}
