/** Where grace writes its lifecycle lines. `console` satisfies it. */
export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/** One line per event on stderr, prefixed so it reads well beside app logs. */
export const stderrLogger: Logger = {
  info: (message) => process.stderr.write(`grace: ${message}\n`),
  warn: (message) => process.stderr.write(`grace: warning: ${message}\n`),
  error: (message) => process.stderr.write(`grace: error: ${message}\n`),
};

const silentLogger: Logger = { info() {}, warn() {}, error() {} };

/** `undefined` means the default, `false` means silence. */
export function resolveLogger(logger: Logger | false | undefined): Logger {
  if (logger === false) return silentLogger;
  return logger ?? stderrLogger;
}
