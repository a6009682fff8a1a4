// The ready channel's protocol lives in one module (src/platform/channel-words.ts).
// The park preload cannot import it and keeps a copy of its part: these
// checks hold the copy to the module.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import { ChannelWords, line, releaseLine, WORDS, type Release } from '../src/platform/channel-words.ts';
import { PARKED_GLOBAL } from '../src/platform/process-host.ts';

const preload = createRequire(import.meta.url)('../src/protocol/standby-preload.cts') as {
  PARKED: string;
  PARKED_GLOBAL: string;
  readRelease: (line: string) => Release;
};

test('the park preload says the protocol\'s word, and reads the release line as the protocol writes it', () => {
  assert.equal(preload.PARKED, WORDS.parked);
  assert.equal(preload.PARKED_GLOBAL, PARKED_GLOBAL, 'the global grace, loaded in the park, leaves its start-up for');
  const releases: Release[] = [
    { env: { PATH: '/usr/bin', 'WITH=EQUALS': 'a\nb', EMPTY: '', UNICODE: 'é☃' }, priority: 5 },
    { env: {}, priority: undefined },
  ];
  for (const release of releases) {
    const written = releaseLine(release);
    assert.ok(written.endsWith('\n') && !written.slice(0, -1).includes('\n'), 'one line');
    assert.deepEqual(preload.readRelease(written.slice(0, -1)), release);
  }
});

test('every word is a line of its own, and the one reader hears them whole, however the chunks fall', () => {
  const heard: string[] = [];
  const words = new ChannelWords((word) => heard.push(word));
  const stream = Object.values(WORDS).map(line).join('');
  for (const char of stream) words.push(char);
  assert.deepEqual(heard, Object.values(WORDS));
});

test('the reader holds no more than a word\'s length of a line that never ends', () => {
  const heard: string[] = [];
  const words = new ChannelWords((word) => heard.push(word));
  for (let i = 0; i < 1024; i++) words.push('x'.repeat(1024));
  words.push(`\n${line(WORDS.parked)}`);
  assert.equal(heard.length, 2);
  assert.ok(heard[0]!.length <= 64, `a megabyte with no newline was held: ${heard[0]!.length} characters`);
  assert.equal(heard[1], WORDS.parked);
});
