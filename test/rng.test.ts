import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Rng } from '../src/shared/rng.js';

test('fillBernoulli draws the same outcomes as next() < p and leaves the stream where that loop would', () => {
  for (const seed of [0, 1, 0x7fffffff, 0x80000000, 0xffffffff, 123456789]) {
    for (const p of [0, 0.2, 0.5, 0.8, 0.9999, 1]) {
      const fast = new Float32Array(5000);
      const slow = new Float32Array(5000);
      const a = new Rng(seed);
      const b = new Rng(seed);
      a.fillBernoulli(fast, p, 1.25);
      for (let i = 0; i < slow.length; i++) slow[i] = b.next() < p ? 1.25 : 0;
      assert.deepEqual(fast, slow, `seed ${seed}, p ${p}`);
      assert.equal(a.next(), b.next(), `seed ${seed}, p ${p}: the next draw`);
    }
  }
});
