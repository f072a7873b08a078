/**
 * An IDX split whose count is 0 is a well-formed file but not a data set:
 * training on it used to "complete" with NaN epochs and exit 0. It is a
 * DataError (exit 2) naming the file. A limit of 0 (report's trainLimit: 0) is
 * still a request for no examples, not a defect.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeIdx } from '../src/coordinator/data/idx.js';
import { loadFashionMnist } from '../src/coordinator/data/fashionMnist.js';
import { DataError } from '../src/shared/errors.js';
import { runCli } from './support/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'pixelsense-empty-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A data directory whose `emptySplit` has 0 examples and whose other split has 20. */
function dataDir(name: string, emptySplit: 'train' | 't10k'): string {
  const d = join(dir, name);
  mkdirSync(d);
  for (const prefix of ['train', 't10k']) {
    const n = prefix === emptySplit ? 0 : 20;
    const pixels = new Uint8Array(n * 784).fill(9);
    const labels = new Uint8Array(n).map((_, i) => i % 10);
    writeFileSync(join(d, `${prefix}-images-idx3-ubyte`), encodeIdx({ kind: 'images', pixels, count: n }));
    writeFileSync(join(d, `${prefix}-labels-idx1-ubyte`), encodeIdx({ kind: 'labels', labels, count: n }));
  }
  return d;
}

test('a training split with a count of 0 is refused with a DataError naming the file', async () => {
  const d = dataDir('empty-train', 'train');
  await assert.rejects(
    loadFashionMnist({ env: {}, dataDir: d, download: false, npmPackageDir: null }),
    (e: unknown) => e instanceof DataError && /train-images-idx3-ubyte: empty split: the file holds 0 training images/.test(e.message),
  );
});

test('`train` on an empty test split exits 2 with one line', async () => {
  const d = dataDir('empty-test', 't10k');
  const cfg = join(dir, 'c.yaml');
  writeFileSync(
    cfg,
    'model: { kind: ann, dense: [8] }\ntrain: { epochs: 1, batchSize: 8, microBatchSize: 8 }\nmetrics: { enabled: false }\n',
  );
  const r = await runCli(['train', cfg, '--workers', '1', '--data-dir', d, '--out', join(dir, 'run')]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /pixelsense: .*t10k-images-idx3-ubyte: empty split: the file holds 0 test images/);
});
