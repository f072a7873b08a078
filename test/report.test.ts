import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { emptyConfusion, evalReport } from '../src/coordinator/report/classification.js';
import { readIdxFile } from '../src/coordinator/data/idx.js';
import { saveLayersModel } from '../src/shared/modelFiles.js';
import { cnnGains, readRun, writeReport, type ReportResult } from '../src/coordinator/report/report.js';
import { initBackend } from '../src/shared/backend.js';
import { ModelError } from '../src/shared/errors.js';
import { fashionMnistDir } from './support/data.js';

/** The real data set's directory (set in before). */
let DATA: string;
const TEST_LIMIT = 500;

/** Where each class's errors go: the look-alike class. */
const CONFUSED_WITH = [6, 3, 4, 0, 2, 7, 0, 9, 0, 7];
/** Per-class recall of the fabricated ANN and CNN: the CNN is better mostly on shirts, pullovers and coats. */
const ANN_RECALL = [0.85, 0.97, 0.8, 0.88, 0.82, 0.95, 0.6, 0.95, 0.96, 0.95];
const CNN_RECALL = [0.86, 0.98, 0.88, 0.89, 0.89, 0.96, 0.72, 0.96, 0.97, 0.96];

function confusionFor(recall: number[]): number[][] {
  const m = emptyConfusion();
  recall.forEach((r, k) => {
    m[k]![k] = Math.round(r * 1000);
    m[k]![CONFUSED_WITH[k]!] = 1000 - Math.round(r * 1000);
  });
  return m;
}

function metrics(model: 'ann' | 'cnn', recall: number[]) {
  const test = evalReport(confusionFor(recall), model === 'ann' ? 3500 : 2600, 10000);
  const history = [1, 2, 3].map((epoch) => ({
    epoch,
    step: epoch * 469,
    wall_s: epoch * 10,
    train_loss: 0.9 / epoch,
    train_accuracy: 0.7 + 0.05 * epoch,
    test_loss: 0.95 / epoch,
    test_accuracy: 0.68 + 0.05 * epoch,
    lr: 0.001,
    examples_per_sec: 6000,
  }));
  return {
    model,
    backend: 'wasm',
    workers: 2,
    config_file: `configs/${model}.yaml`,
    epochs: 3,
    steps: 1407,
    examples_per_sec: 6000,
    wall_s: 30.5,
    time_to_target_s: model === 'cnn' ? 21.2 : null,
    test,
    history,
  };
}

let dir: string;
let annRun: string;
let cnnRun: string;
let result: ReportResult;
let html: string;
let markdown: string;

/** A run directory with metrics.json and a small dense model trained briefly on test images. */
async function fabricateRun(name: string, m: ReturnType<typeof metrics>, model: tfl.LayersModel): Promise<string> {
  const run = join(dir, name);
  await mkdir(run, { recursive: true });
  await writeFile(join(run, 'metrics.json'), JSON.stringify(m, null, 2));
  await saveLayersModel(model, join(run, 'model'));
  return run;
}

before(async () => {
  await initBackend('cpu');
  DATA = await fashionMnistDir(); // the real data set, as a user's machine gets it
  dir = await mkdtemp(join(tmpdir(), 'pixelsense-report-'));
  const { pixels } = await readIdxFile(join(DATA, 't10k-images-idx3-ubyte.gz'), 'images');
  const { labels } = await readIdxFile(join(DATA, 't10k-labels-idx1-ubyte.gz'), 'labels');
  const n = 600;
  const model = tfl.sequential({
    layers: [
      tfl.layers.flatten({ inputShape: [28, 28, 1] }),
      tfl.layers.dense({ units: 10, activation: 'softmax', kernelInitializer: tfl.initializers.zeros() }),
    ],
  });
  model.compile({ optimizer: tf.train.adam(0.01), loss: 'sparseCategoricalCrossentropy' });
  const x = tf.tensor4d(
    Float32Array.from(pixels.subarray(0, n * 784), (v) => v / 255),
    [n, 28, 28, 1],
  );
  const y = tf.tensor1d(Array.from(labels.subarray(0, n)), 'float32');
  await model.fit(x, y, { epochs: 3, batchSize: 100, verbose: 0 });
  tf.dispose([x, y]);
  annRun = await fabricateRun('compare-ann', metrics('ann', ANN_RECALL), model);
  cnnRun = await fabricateRun('compare-cnn', metrics('cnn', CNN_RECALL), model);
  result = await writeReport([annRun, cnnRun], join(dir, 'report'), { dataDir: DATA, testLimit: TEST_LIMIT, backend: 'cpu' });
  html = await readFile(result.html, 'utf8');
  markdown = await readFile(result.markdown, 'utf8');
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const count = (s: string, re: RegExp): number => (s.match(re) ?? []).length;

test('the HTML report is one well-formed, self-contained document', () => {
  assert.match(html, /^<!doctype html>\n<html lang="en"><head><meta charset="utf-8">/);
  assert.ok(html.trimEnd().endsWith('</body></html>'));
  for (const tag of ['svg', 'table', 'figure', 'p', 'h2']) {
    assert.equal(count(html, new RegExp(`<${tag}[ >]`, 'g')), count(html, new RegExp(`</${tag}>`, 'g')), `<${tag}> balanced`);
  }
  assert.doesNotMatch(html, /<script|<link|<iframe|@import/i, 'no scripts or linked resources');
  assert.doesNotMatch(html, /(src|href)\s*=\s*["'](?!data:|#)/i, 'every src/href is inline data or an anchor');
  assert.deepEqual(result.warnings, []);
});

test('the report shows per-run metrics, curves, confusion heatmaps and per-class F1 for every run', () => {
  for (const section of [
    'Runs',
    'Training curves',
    'Per-class F1',
    'Where the CNN gains most',
    'Confusion matrices',
    'Most-confused test images',
  ]) {
    assert.ok(html.includes(`<h2>${section}</h2>`), section);
    assert.ok(markdown.includes(`## ${section}`), section);
  }
  assert.ok(html.includes('<th>compare-ann</th>') && html.includes('<th>compare-cnn</th>'));
  assert.ok(html.includes('<td>0.8730</td>'), 'ANN accuracy from metrics.json');
  for (const id of ['training-curves', 'f1-per-class', 'confusion-compare-ann', 'confusion-compare-cnn', 'cnn-gain', 'most-confused']) {
    assert.match(html, new RegExp(`<figure id="${id}"><svg`), id);
  }
});

test('the classes where the CNN gains most over the ANN are named, largest gain first', () => {
  const ann = JSON.parse(JSON.stringify(metrics('ann', ANN_RECALL).test));
  const cnn = JSON.parse(JSON.stringify(metrics('cnn', CNN_RECALL).test));
  assert.deepEqual(
    cnnGains(ann, cnn)
      .slice(0, 3)
      .map((g) => g.name),
    ['Shirt', 'Pullover', 'Coat'],
  );
  assert.match(html, /gains most F1 over the ANN \(compare-ann\) on Shirt \(\+0\.\d+\), Pullover \(\+0\.\d+\), Coat \(\+0\.\d+\)/);
});

test('every figure is written as SVG and as a PNG that decodes', async () => {
  const pngs = result.figures.filter((f) => f.endsWith('.png'));
  assert.equal(pngs.length, 6);
  assert.equal(result.figures.filter((f) => f.endsWith('.svg')).length, 6);
  for (const png of pngs) {
    const meta = await sharp(png).metadata();
    assert.equal(meta.format, 'png', png);
    assert.ok((meta.width ?? 0) > 200 && (meta.height ?? 0) > 100, `${png} is ${meta.width}x${meta.height}`);
    const svg = await readFile(png.replace(/\.png$/, '.svg'), 'utf8');
    assert.match(svg, /^<svg [^>]*xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
  }
});

test('the Markdown report links the PNG figures, and they exist', () => {
  const links = [...markdown.matchAll(/!\[[^\]]*\]\(([^)]+)\)/g)].map((m) => m[1]!);
  assert.equal(links.length, 6);
  for (const link of links) {
    assert.match(link, /^figures\/[\w-]+\.png$/);
    assert.ok(existsSync(join(dir, 'report', link)), link);
  }
  assert.match(markdown, /^\| compare-cnn \| cnn \| wasm \| 2 \| 3 \| 1407 \| 0\.9070 \|/m);
});

test('the most-confused grid shows test images labelled with true and predicted class', async () => {
  const svg = await readFile(join(dir, 'report', 'figures', 'most-confused.svg'), 'utf8');
  assert.ok(count(svg, /<image /g) >= 1, 'images drawn');
  assert.ok(count(svg, /data:image\/png;base64,/g) >= 1, 'images inline');
  assert.match(svg, /(T-shirt\/top|Trouser|Pullover|Dress|Coat|Sandal|Shirt|Sneaker|Bag|Ankle boot) → /);
  assert.match(html, new RegExp(`on ${TEST_LIMIT} test images`));
});

test('a run whose model is missing still gets a report, with the image grid replaced by a note', async () => {
  const bare = join(dir, 'bare-cnn');
  await mkdir(bare);
  await writeFile(join(bare, 'metrics.json'), JSON.stringify(metrics('cnn', CNN_RECALL)));
  const r = await writeReport([bare], join(dir, 'report-bare'), { dataDir: DATA, testLimit: 10, backend: 'cpu' });
  assert.equal(r.warnings.length, 2, r.warnings.join('; '));
  assert.match(r.warnings.join('\n'), /most-confused images omitted: .*model\.json: missing/);
  assert.match(await readFile(r.html, 'utf8'), /Note: the CNN-versus-ANN comparison needs one run of each model kind/);
});

test('a malformed metrics.json is a ModelError naming the file and the field', async () => {
  const bad = join(dir, 'bad-run');
  await mkdir(bad);
  const m = metrics('ann', ANN_RECALL) as Record<string, unknown>;
  await writeFile(join(bad, 'metrics.json'), JSON.stringify({ ...m, test: { ...(m.test as object), confusion: [[1, 2]] } }));
  await assert.rejects(readRun(bad), (err: unknown) => {
    assert.ok(err instanceof ModelError);
    assert.match(err.message, /bad-run[/\\]metrics\.json: test\.confusion/);
    return true;
  });
  await assert.rejects(readRun(join(dir, 'no-such-run')), /metrics\.json: missing/);
});
