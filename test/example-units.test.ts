import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

// The example systemd units reload through `grace reload`, which waits for
// the outcome, so `systemctl reload` reports a release that did not come up.

for (const unit of ['grace-example.service', 'grace-example-direct.service']) {
  test(`${unit}: ExecReload runs grace reload on the pid file the service writes`, () => {
    const text = readFileSync(new URL(`../example/systemd/${unit}`, import.meta.url), 'utf8');
    const reload = /^ExecReload=.*\/cli\.js reload --pid-file (\S+)$/m.exec(text);
    assert.ok(reload, `${unit} has ExecReload=… grace reload --pid-file …`);
    const pidFile = reload[1]!;
    // Where it is written: grace run's --pid-file, or the app's PID_FILE.
    assert.ok(text.includes(`--pid-file ${pidFile} --`) || text.includes(`PID_FILE=${pidFile}`), `${unit} writes ${pidFile}`);
  });
}
