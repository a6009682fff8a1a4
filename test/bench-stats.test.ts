// The bench's statistics: a "median of 2 rounds" in a README table is the
// mean of the two, not the higher one (what percentile(v, 50) gives).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { median, percentile } from '../bench/load.ts';

test('median: the middle value of an odd count, the mean of the two middle values of an even one', () => {
  assert.equal(median([0.5, 0.25]), 0.375);
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.equal(median([7]), 7);
  assert.ok(Number.isNaN(median([])));
  assert.equal(percentile([0.5, 0.25], 50), 0.5, 'nearest rank: the higher of two, hence median()');
});
