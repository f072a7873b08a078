/**
 * The library API from the package entry (src/index.ts), in-process: the
 * same config rules as the CLI, onStep/onEval, an AbortSignal that stops a
 * run with a checkpoint, resume, evaluate and predict (paths and bytes),
 * and nothing printed.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { fashionMnistDir } from './support/data.js';
import {
  ConfigError,
  evaluate,
  loadConfig,
  predict,
  train,
  UsageError,
  type EpochRecord,
  type TrainResult,
  type TrainStep,
} from '../src/index.js';

const dir = mkdtempSync(join(tmpdir(), 'pixelsense-api-'));
after(() => rmSync(dir, { recursive: true, force: true }));

// 256 / 32 = 8 steps per epoch, 2 epochs.
const CONFIG = {
  model: { kind: 'ann', dense: [16] },
  data: { trainLimit: 256, testLimit: 100 },
  train: { epochs: 2, batchSize: 32, microBatchSize: 16 },
  metrics: { enabled: false },
};

/** stdout and stderr of a separate process that calls train(): the test runner itself talks over this process's stdout. */
function trainInChild(options: Record<string, unknown>): Promise<{ code: number | null; output: string }> {
  const entry = new URL('../src/index.js', import.meta.url).href;
  const script = `import { train } from ${JSON.stringify(entry)};
const r = await train(${JSON.stringify(CONFIG)}, ${JSON.stringify(options)});
if (r.stopReason !== 'max-steps') process.exitCode = 3;`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (output += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (output += d));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
  });
}

const full = join(dir, 'full');
let result: TrainResult;
const steps: TrainStep[] = [];
const evals: EpochRecord[] = [];

before(async () => {
  // The data set as a user's machine has it (the npm package converted once into the cache), so no run tries a download.
  await fashionMnistDir();
  result = await train(CONFIG, { workers: 1, out: full, onStep: (s) => steps.push(s), onEval: (e) => evals.push(e) });
});

test('a YAML path and a plain object are validated by the same schema and raise the same ConfigError', () => {
  const file = join(dir, 'bad.yaml');
  writeFileSync(file, 'train: { epochs: 0 }\n');
  let a: ConfigError | undefined;
  let b: ConfigError | undefined;
  try {
    loadConfig(file);
  } catch (e) {
    a = e as ConfigError;
  }
  try {
    loadConfig({ train: { epochs: 0 } });
  } catch (e) {
    b = e as ConfigError;
  }
  assert.ok(a instanceof ConfigError && b instanceof ConfigError);
  assert.equal(a.path, 'train.epochs');
  assert.equal(b.path, a.path);
  assert.equal(b.message.replace(b.file, ''), a.message.replace(a.file, ''));
  assert.equal(b.file, '<config object>');
});

test('train() prints nothing to stdout or stderr, with the metrics endpoint on', async () => {
  const r = await trainInChild({ workers: 1, maxSteps: 2, out: join(dir, 'quiet'), metrics: { enabled: true, port: 0 } });
  assert.equal(r.code, 0, r.output);
  assert.equal(r.output, '');
});

test('train() resolves with the result, also written to metrics.json', () => {
  assert.equal(result.stopReason, 'completed');
  assert.equal(result.steps, 16);
  assert.equal(result.outDir, full);
  assert.ok(result.testAccuracy > 0.3, `accuracy ${result.testAccuracy}`);
  assert.ok(result.examplesPerSecond > 0);
  assert.equal(result.timeToTargetSeconds, null);
  assert.ok(existsSync(join(result.modelDir, 'model.json')));
  const metrics = JSON.parse(readFileSync(join(full, 'metrics.json'), 'utf8')) as { test: { accuracy: number } };
  assert.equal(metrics.test.accuracy, result.testAccuracy);
});

test('onStep is called once per step, in order, with step, epoch, loss, accuracy, examplesPerSecond and lr', () => {
  assert.deepEqual(
    steps.map((s) => s.step),
    Array.from({ length: 16 }, (_, i) => i + 1),
  );
  assert.deepEqual([steps[0]?.epoch, steps[8]?.epoch], [1, 2]);
  for (const s of steps) {
    for (const k of ['loss', 'accuracy', 'examplesPerSecond', 'lr'] as const) assert.ok(Number.isFinite(s[k]), `${k} ${s[k]}`);
  }
});

test('onEval receives the records written to log.jsonl', () => {
  const logged = readFileSync(join(full, 'log.jsonl'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((e) => e['event'] === 'eval');
  assert.equal(evals.length, 2);
  assert.deepEqual(
    evals.map((e) => [e.step, e.test_accuracy]),
    logged.map((e) => [e['step'], e['test_accuracy']]),
  );
});

test('an aborted signal stops the run after the current step with a checkpoint, and resume finishes it', async () => {
  const out = join(dir, 'aborted');
  const controller = new AbortController();
  const stopped = await train(CONFIG, {
    workers: 1,
    out,
    signal: controller.signal,
    onStep: (s) => {
      if (s.step === 3) controller.abort();
    },
  });
  assert.equal(stopped.stopReason, 'interrupted');
  assert.equal(stopped.steps, 3);
  assert.deepEqual(readdirSync(join(out, 'checkpoints')), ['ckpt-000000003.msgpack']);
  const resumed = await train(undefined, { resume: out, workers: 1 });
  assert.equal(resumed.stopReason, 'completed');
  assert.equal(resumed.steps, 16);
  assert.equal(
    readFileSync(join(out, 'model', 'weights.bin')).equals(readFileSync(join(full, 'model', 'weights.bin'))),
    true,
    'same weights as the uninterrupted run',
  );
});

test('resume refuses a config or an option that would change the weights', async () => {
  await assert.rejects(train(CONFIG, { resume: full }), UsageError);
  await assert.rejects(train(undefined, { resume: full, epochs: 3 }), /does not take epochs/);
});

test('evaluate() reports accuracy, loss, per-class metrics, macro F1 and the confusion matrix of the whole test split', async () => {
  const report = await evaluate(full, { workers: 1 });
  assert.equal(report.split, 'test');
  assert.equal(report.count, 10_000);
  assert.ok(report.accuracy > 0.3 && report.accuracy < 1, `accuracy ${report.accuracy}`);
  assert.ok(Number.isFinite(report.loss));
  assert.equal(report.per_class.length, 10);
  assert.ok(report.macro_f1 > 0);
  assert.equal(
    report.confusion.flat().reduce((s, v) => s + v, 0),
    10_000,
  );
  assert.equal(report.confusion.reduce((s, row, i) => s + (row[i] ?? 0), 0) / 10_000, report.accuracy);
});

test('predict() gives one result per input in order, for paths and bytes alike, and an error result for a bad image', async () => {
  const png = await sharp(Buffer.alloc(28 * 28, 0).fill(200, 28 * 8, 28 * 20), { raw: { width: 28, height: 28, channels: 1 } })
    .png()
    .toBuffer();
  const file = join(dir, 'img.png');
  writeFileSync(file, png);
  const out = await predict(full, [file, png, new Uint8Array([1, 2, 3])], { top: 2 });
  assert.equal(out.length, 3);
  const [fromFile, fromBytes, bad] = out;
  assert.ok(fromFile && 'top' in fromFile && fromBytes && 'top' in fromBytes, JSON.stringify(out));
  assert.equal(fromFile.file, file);
  assert.equal(fromBytes.file, '<buffer 1>');
  assert.equal(fromFile.top.length, 2);
  assert.deepEqual(fromBytes.top, fromFile.top);
  assert.ok(bad && 'error' in bad && bad.file === '<buffer 2>', JSON.stringify(bad));
});
