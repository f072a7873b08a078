import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { readIdxFile } from '../src/coordinator/data/idx.js';
import { articleBox, loadImageAs28x28 } from '../src/coordinator/report/images.js';
import { saveLayersModel } from '../src/shared/modelFiles.js';
import {
  formatPredictions,
  predictExitCode,
  predictFiles,
  predictProbabilities,
  type PredictResult,
} from '../src/coordinator/report/predict.js';
import { initBackend } from '../src/shared/backend.js';
import { hugeHeaderPng } from './support/files.js';
import { ModelError, UsageError } from '../src/shared/errors.js';
import { fashionMnistDir } from './support/data.js';

/** The real data set's directory (set in before). */
let DATA: string;
const TRAIN_N = 1000; // a linear model on 1,000 test images reaches ~75%: enough to have opinions
const TROUSER = 1;

let dir: string;
let modelDir: string;
let pixels: Uint8Array; // test split, uint8, N*784
let labels: Uint8Array;
let model: tfl.LayersModel;

const image = (i: number): Uint8Array => pixels.subarray(i * 784, (i + 1) * 784);
const asFloat = (px: Uint8Array): Float32Array => Float32Array.from(px, (v) => v / 255);

/** What the model says about the raw test tensor: the reference every file-based prediction must match. */
function rawProbabilities(i: number): Float32Array {
  return predictProbabilities(model, asFloat(image(i)), 1);
}
const argmax = (p: ArrayLike<number>): number => Array.from(p).reduce((b, v, k, a) => (v > (a[b] ?? 0) ? k : b), 0);

function topLabel(r: PredictResult | undefined): number {
  assert.ok(r && 'top' in r, `expected a prediction, got ${JSON.stringify(r)}`);
  return r.top[0]!.label;
}

/**
 * Pearson correlation of two 28x28 images after 4x4 average pooling. Pooling
 * forgives the half-pixel shifts that re-centring and resampling legitimately
 * cause (many data-set images sit a pixel off centre); a wrong crop, scale or
 * polarity still scores far below 0.85.
 */
function similarity(a: Float32Array, b: Float32Array): number {
  const pool = (img: Float32Array): number[] => {
    const out = new Array<number>(49).fill(0);
    img.forEach((v, k) => {
      out[(Math.floor(k / 28) >> 2) * 7 + ((k % 28) >> 2)]! += v / 16;
    });
    return out;
  };
  const [p, q] = [pool(a), pool(b)];
  const mean = (x: number[]): number => x.reduce((s, v) => s + v, 0) / x.length;
  const [mp, mq] = [mean(p), mean(q)];
  let c = 0;
  let vp = 0;
  let vq = 0;
  p.forEach((v, k) => {
    c += (v - mp) * (q[k]! - mq);
    vp += (v - mp) ** 2;
    vq += (q[k]! - mq) ** 2;
  });
  return c / Math.sqrt(vp * vq);
}

async function writeGrey(px: Uint8Array, width: number, file: string): Promise<string> {
  await sharp(Buffer.from(px), { raw: { width, height: px.length / width, channels: 1 } }).toFile(file);
  return file;
}

before(async () => {
  await initBackend('cpu');
  DATA = await fashionMnistDir(); // the real data set, as a user's machine gets it
  dir = await mkdtemp(join(tmpdir(), 'pixelsense-predict-'));
  ({ pixels } = await readIdxFile(join(DATA, 't10k-images-idx3-ubyte.gz'), 'images'));
  ({ labels } = await readIdxFile(join(DATA, 't10k-labels-idx1-ubyte.gz'), 'labels'));
  model = tfl.sequential({
    layers: [
      tfl.layers.flatten({ inputShape: [28, 28, 1] }),
      tfl.layers.dense({ units: 10, activation: 'softmax', kernelInitializer: tfl.initializers.zeros() }),
    ],
  });
  model.compile({ optimizer: tf.train.adam(0.01), loss: 'sparseCategoricalCrossentropy' });
  const x = tf.tensor4d(asFloat(pixels.subarray(0, TRAIN_N * 784)), [TRAIN_N, 28, 28, 1]);
  const y = tf.tensor1d(Array.from(labels.subarray(0, TRAIN_N)), 'float32');
  await model.fit(x, y, { epochs: 8, batchSize: 100, shuffle: false, verbose: 0 });
  tf.dispose([x, y]);
  modelDir = join(dir, 'run');
  await saveLayersModel(model, join(modelDir, 'model'));
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('a PNG made from a test image gets the label the model gives the raw test tensor', async () => {
  const ids = [2000, 2001, 2002, 2003, 2004, 2005, 2006, 2007];
  const files = await Promise.all(ids.map((i) => writeGrey(image(i), 28, join(dir, `test-${i}.png`))));
  const out = await predictFiles(modelDir, files, { top: 3 });
  assert.equal(predictExitCode(out), 0);
  ids.forEach((i, k) => {
    const raw = rawProbabilities(i);
    const r = out.results[k];
    assert.equal(topLabel(r), argmax(raw), `image ${i}`);
    assert.ok(r && 'top' in r && Math.abs(r.top[0]!.probability - Math.max(...raw)) < 1e-5);
  });
});

test('a 28x28 dark-background image is used exactly as the data set stores it', async () => {
  const file = await writeGrey(image(2010), 28, join(dir, 'exact.png'));
  assert.deepEqual(Array.from(await loadImageAs28x28(file)), Array.from(asFloat(image(2010))));
});

test('a photo-like image (light, uneven background, off-centre, large, JPEG) is classified like the test image it came from', async () => {
  // The first held-out trouser that the model is sure of and that sits centred in its frame (as
  // our preprocessing will centre it): a test of the preprocessing, not of a linear model's
  // sensitivity to one-pixel shifts.
  let i = TRAIN_N;
  const centred = (k: number): boolean => {
    const box = articleBox({ data: image(k), width: 28, height: 28 });
    return box.left === Math.floor((28 - box.width) / 2) && box.height === 28;
  };
  while (!(labels[i] === TROUSER && Math.max(...rawProbabilities(i)) > 0.9 && centred(i))) i++;
  const article = await sharp(Buffer.from(image(i).map((v) => 255 - v)), { raw: { width: 28, height: 28, channels: 1 } })
    .resize(336, 336, { kernel: 'cubic' })
    .toColourspace('b-w') // sharp writes one-channel raw input back as sRGB otherwise
    .raw()
    .toBuffer();
  // 600x500 backdrop: a vertical gradient from #f8 to #e4 with deterministic noise, article at (40, 120).
  const W = 500;
  const H = 600;
  const photo = new Uint8Array(W * H);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const noise = ((x * 7919 + y * 104729) % 9) - 4;
      const inside = x >= 120 && x < 456 && y >= 40 && y < 376;
      const v = inside ? (article[(y - 40) * 336 + (x - 120)] ?? 0) : 248 - (20 * y) / H;
      photo[y * W + x] = Math.max(0, Math.min(255, Math.round(Math.min(v, 248 - (20 * y) / H) + noise)));
    }
  }
  const rgb = sharp(Buffer.from(photo), { raw: { width: W, height: H, channels: 1 } }).toColourspace('srgb');
  const file = join(dir, 'photo.jpg');
  await rgb.jpeg({ quality: 85 }).toFile(file);

  const seen = await loadImageAs28x28(file);
  assert.equal(seen[0], 0, 'the backdrop becomes exactly 0, like the data set');
  const r = similarity(seen, asFloat(image(i)));
  assert.ok(r > 0.85, `preprocessed photo correlates with the test image only ${r.toFixed(3)}`);
  const out = await predictFiles(modelDir, [file], { top: 1 });
  assert.equal(topLabel(out.results[0]), argmax(rawProbabilities(i)));
  assert.equal(topLabel(out.results[0]), TROUSER);
});

test('a transparent-background WebP reads as an article on a light background', async () => {
  const px = image(2020);
  const rgba = new Uint8Array(56 * 56 * 4);
  const big = await sharp(Buffer.from(px), { raw: { width: 28, height: 28, channels: 1 } })
    .resize(56, 56)
    .toColourspace('b-w')
    .raw()
    .toBuffer();
  big.forEach((v, k) => {
    rgba.set([40, 40, 40, v], k * 4); // dark article, opacity = intensity, transparent elsewhere
  });
  const file = join(dir, 'cutout.webp');
  await sharp(Buffer.from(rgba), { raw: { width: 56, height: 56, channels: 4 } })
    .webp({ lossless: true })
    .toFile(file);
  const r = similarity(await loadImageAs28x28(file), asFloat(px));
  assert.ok(r > 0.85, `correlation with the test image only ${r.toFixed(3)}`);
});

test('missing, empty, non-image, truncated and oversized files each get one error line while the rest are classified', async () => {
  const good = await writeGrey(image(2030), 28, join(dir, 'good.png'));
  const empty = join(dir, 'empty.png');
  await writeFile(empty, '');
  const text = join(dir, 'notes.png');
  await writeFile(text, 'this is not an image\n');
  const large = join(dir, 'large.jpg');
  await writeFile(large, '');
  await truncate(large, 51 * 1024 * 1024); // sparse: costs no disk
  const bomb = await hugeHeaderPng(join(dir, 'bomb.png'));
  const truncated = join(dir, 'truncated.png');
  const bytes = await readFile(good);
  await writeFile(truncated, bytes.subarray(0, bytes.length >> 1)); // header intact, pixel data cut
  const missing = join(dir, 'missing.png');
  const files = [missing, good, empty, text, large, bomb, truncated];

  const out = await predictFiles(modelDir, files, { top: 2 });
  assert.equal(predictExitCode(out), 1);
  assert.deepEqual(
    out.results.map((r) => r.file),
    files,
  );
  assert.equal(topLabel(out.results[1]), argmax(rawProbabilities(2030)));
  const errors = out.results.map((r) => ('error' in r ? r.error : ''));
  assert.match(errors[0]!, /no such file/);
  assert.match(errors[2]!, /empty/);
  assert.match(errors[3]!, /not a readable image/);
  assert.match(errors[4]!, /51 MB, over the 50 MB limit/);
  assert.match(errors[5]!, /20000x20000 .*megapixel limit/);
  assert.match(errors[6]!, /cannot be decoded/);
  const { stdout, stderr } = formatPredictions(out);
  assert.equal(stdout.length, 1);
  assert.equal(stderr.length, 6);
  assert.ok(stderr.every((l) => !l.includes('\n') && l.startsWith(dir)));
});

test('--top K returns K classes, most probable first, and all ten sum to one', async () => {
  const file = await writeGrey(image(2040), 28, join(dir, 'k.png'));
  const out = await predictFiles(modelDir, [file], { top: 10 });
  const r = out.results[0];
  assert.ok(r && 'top' in r);
  assert.equal(r.top.length, 10);
  assert.deepEqual(
    r.top.map((t) => t.probability),
    r.top.map((t) => t.probability).sort((a, b) => b - a),
  );
  assert.ok(Math.abs(r.top.reduce((s, t) => s + t.probability, 0) - 1) < 1e-5);
  assert.equal(formatPredictions(out).stdout[0]!.split(',').length, 10);
  await assert.rejects(predictFiles(modelDir, [file], { top: 0 }), UsageError);
});

test('a directory with no model fails the whole command with a ModelError', async () => {
  const file = await writeGrey(image(2050), 28, join(dir, 'm.png'));
  await assert.rejects(predictFiles(join(dir, 'nothing-here'), [file]), ModelError);
});
