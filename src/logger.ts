/** Where grace writes its lifecycle lines. `console` satisfies it. */
export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/** One line per event on stderr, prefixed so it reads well beside app logs. */
export const stderrLogger: Logger = {
  info: (message) => write(`grace: ${message}\n`),
  warn: (message) => write(`grace: warning: ${message}\n`),
  error: (message) => write(`grace: error: ${message}\n`),
};

// A closed stderr (EPIPE: the terminal or log collector went away) must not
// stop a restart or a drain half-way.
function write(line: string): void {
  try {
    process.stderr.write(line);
  } catch {
    // nowhere to log to
  }
}

const silentLogger: Logger = { info() {}, warn() {}, error() {} };

/** `undefined` means the default, `false` means silence. */
export function resolveLogger(logger: Logger | false | undefined): Logger {
  if (logger === false) return silentLogger;
  return logger ?? stderrLogger;
}
