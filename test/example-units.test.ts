import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

// The example systemd units reload through `grace reload`, which waits for
// the outcome, so `systemctl reload` reports a release that did not come up.

for (const unit of ['grace-example.service', 'grace-example-direct.service']) {
  test(`${unit}: ExecReload runs grace reload on the pid file the service writes`, () => {
    const text = readFileSync(new URL(`../example/systemd/${unit}`, import.meta.url), 'utf8');
    const reload = /^ExecReload=.*\/cli\.js reload(?: --pid-file (\S+))?$/m.exec(text);
    assert.ok(reload, `${unit} has ExecReload=… grace reload …`);
    // No --pid-file: GRACE_PID_FILE in the unit's environment names it, for grace run too.
    const fromEnv = /^Environment=GRACE_PID_FILE=(\S+)$/m.exec(text)?.[1];
    const pidFile = reload[1] ?? fromEnv;
    assert.ok(pidFile, `${unit}: grace reload is given --pid-file, or GRACE_PID_FILE`);
    // Where it is written: grace run's --pid-file (or GRACE_PID_FILE, for a run without the flag), or the app's PID_FILE.
    const written = text.includes(`--pid-file ${pidFile} --`) || text.includes(`Environment=PID_FILE=${pidFile}`) || (fromEnv === pidFile && /cli\.js run (?!.*--pid-file)/.test(text));
    assert.ok(written, `${unit} writes ${pidFile}`);
  });
}
