/*
 * The environment a process reads only as it starts: at exec (the dynamic
 * loader, glibc) or while node boots, before the first preload runs. A
 * standby is parked at that first preload (standby-preload.cts), so it has
 * read these already, with the values of its boot; setting them in
 * process.env at the release changes nothing the process did with them, and
 * /proc/PID/environ keeps the boot's. A change in any of them means a fresh
 * spawn (standby.ts). Everything else is read after the release, as the
 * released process runs, and reaches it with the release.
 *
 * Found by interposing getenv and secure_getenv (an LD_PRELOAD library) in
 * node 20, 22 and 24 booting up to the park, with and without
 * --use-openssl-ca, --use-system-ca, an OPENSSL_CONF, LANG and TZ set; and,
 * for what is read before getenv exists, from the loader's and glibc's
 * documentation. docs/standby.md lists them for users.
 */

/** A family of variables read at boot, and who reads them. */
interface BootReader {
  match: RegExp;
  who: string;
  /** Read at boot only in a standby that loaded this before parking. */
  onlyWith?: 'undici';
}

const READERS: BootReader[] = [
  // ld.so reads every LD_* from the initial environment before any code runs
  // (LD_PRELOAD, LD_LIBRARY_PATH, LD_BIND_NOW, LD_AUDIT, …); a later dlopen
  // searches the LD_LIBRARY_PATH it saw then.
  { match: /^LD_/, who: 'the dynamic loader reads it only at exec' },
  // glibc's tunables, and the MALLOC_* names that are aliases of them
  // (MALLOC_ARENA_MAX, MALLOC_CHECK_, MALLOC_TOP_PAD_, …), are read by ld.so
  // at exec, before malloc's first call.
  { match: /^(GLIBC_TUNABLES|MALLOC_.*)$/, who: 'glibc reads it only at exec' },
  // Node's own (NODE_OPTIONS, NODE_PATH, NODE_EXTRA_CA_CERTS, NODE_ICU_DATA,
  // NODE_COMPILE_CACHE, …), read as it parses its options and bootstraps;
  // WATCH_REPORT_DEPENDENCIES (--watch's) and HOME (require's global folders,
  // $HOME/.node_modules) are read then too; simdutf picks its implementation
  // as node loads.
  { match: /^(NODE_.*|WATCH_REPORT_DEPENDENCIES|HOME|SIMDUTF_FORCE_IMPLEMENTATION)$/, who: 'node reads it only as it starts' },
  // libuv's: UV_USE_IO_URING as the loop starts; UV_THREADPOOL_SIZE at the
  // pool's first use, which a preload may reach before the app. Each is read
  // once per process.
  { match: /^UV_/, who: 'libuv reads it only once, as node starts' },
  // Node initialises OpenSSL as it boots: OPENSSL_CONF (and what the config
  // loads: OPENSSL_CONF_INCLUDE, OPENSSL_MODULES), the CPU capability masks
  // (OPENSSL_ia32cap, …); on node 20, --use-openssl-ca loads SSL_CERT_FILE
  // and SSL_CERT_DIR at boot as well.
  { match: /^(OPENSSL_.*|SSL_CERT_FILE|SSL_CERT_DIR)$/, who: 'OpenSSL reads it only as node starts' },
  // ICU settles its default locale as node boots, from LC_ALL, LC_MESSAGES or
  // LANG (Intl's locale keeps the boot's); and where its time zone files are.
  // Not TZ: node re-reads it whenever process.env.TZ is set, so the release's TZ applies.
  { match: /^(LANG|LC_ALL|LC_MESSAGES|ICU_TIMEZONE_FILES_DIR)$/, who: 'ICU reads it only as node starts' },
  // A standby of an app that loads node's undici (Node 22 and 24) loads it
  // before it parks (standby-preload.cts): undici reads these as it loads,
  // and so does node's colors module, loaded with it (measured on 22 and 24).
  { match: /^(FORCE_COLOR|UNDICI_NO_FG|JEST_WORKER_ID)$/, who: "a standby reads it as it boots (node's undici, loaded before it parks)", onlyWith: 'undici' },
];

/**
 * Who reads `name` only as a process starts, or undefined when it is read
 * later (the release reaches it); `warmed`: what the standby loaded before
 * it parked (undici's readers count only where it did).
 */
export function readAtBoot(name: string, warmed?: 'undici'): string | undefined {
  return READERS.find((reader) => reader.match.test(name) && (reader.onlyWith === undefined || reader.onlyWith === warmed))?.who;
}
