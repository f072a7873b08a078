/** The progress bar's ETA text (training/progress.ts formatDuration). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatDuration } from '../src/coordinator/training/progress.js';

test('an ETA of 539 s rounded to 5 s reads 9m00s, not 8m60s', () => {
  assert.equal(formatDuration(539, 5), '9m00s');
  assert.equal(formatDuration(3599, 5), '1h00m');
  assert.equal(formatDuration(7199, 1), '2h00m');
});

test('no ETA from 0 s to 3 h has a seconds or minutes field of 60 or more', () => {
  for (const roundTo of [1, 5]) {
    for (let t = 0; t <= 3 * 3600; t += 0.5) {
      const s = formatDuration(t, roundTo);
      const fields = [...s.matchAll(/(\d+)([hms])/g)];
      assert.ok(fields.length > 0, s);
      for (const [, n, unit] of fields.slice(1)) assert.ok(Number(n) < 60, `${t} s -> ${s} (${unit})`);
      if (fields.length === 1 && fields[0]?.[2] === 's') assert.ok(Number(fields[0][1]) < 60, `${t} s -> ${s}`);
    }
  }
});

test('ordinary ETAs keep their form, and an unknown one is a question mark', () => {
  assert.equal(formatDuration(42, 1), '42s');
  assert.equal(formatDuration(125, 5), '2m05s');
  assert.equal(formatDuration(3725, 5), '1h02m');
  assert.equal(formatDuration(Number.NaN), '?');
  assert.equal(formatDuration(Infinity), '?');
});
