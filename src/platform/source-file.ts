import { fileURLToPath } from 'node:url';

/*
 * Where grace's own code runs from, read from the stack: the same answer in
 * src/ (run under tsx) and in both builds, where the CommonJS one cannot
 * hold `import.meta` and the ESM one has no `__filename`. Used to find what
 * ships beside the code (the standby park, package.json).
 */

/** The file of the function that calls this one; undefined where the stack does not tell. */
export function callerFile(): string | undefined {
  const saved = Error.prepareStackTrace;
  try {
    Error.prepareStackTrace = (_, calls) => calls;
    const calls = new Error().stack as unknown as NodeJS.CallSite[];
    const name = calls[1]?.getFileName() ?? undefined;
    return name?.startsWith('file:') ? fileURLToPath(name) : name;
  } catch {
    return undefined;
  } finally {
    Error.prepareStackTrace = saved;
  }
}
