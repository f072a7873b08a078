/**
 * The CLI's cross-flag rules (cli/args.ts), called directly: each broken
 * rule is a UsageError (exit 2) whose message names the flag and the way out;
 * each valid combination passes.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  checkBench,
  checkEval,
  checkPredict,
  checkTrain,
  checkWorkers,
  MAX_WORKERS,
  parseWorkerList,
  trainOverrides,
} from '../src/coordinator/cli/args.js';
import { exitCodeOf, UsageError } from '../src/shared/errors.js';

function refuses(fn: () => unknown, message: RegExp): void {
  assert.throws(fn, (err: unknown) => err instanceof UsageError && exitCodeOf(err) === 2 && message.test(err.message));
}

test('train needs exactly one of a config file and --resume', () => {
  refuses(() => checkTrain({}), /a config file is required/);
  refuses(() => checkTrain({ config: 'c.yaml', resume: 'runs/x' }), /not both/);
  assert.equal(checkTrain({ config: 'c.yaml' }), true);
  assert.equal(checkTrain({ resume: 'runs/x' }), true);
});

test('--resume takes only the flags that do not change the weights, and never --out', () => {
  refuses(() => checkTrain({ resume: 'runs/x', lr: 0.1, epochs: 2 }), /does not take --epochs, --lr/);
  refuses(() => checkTrain({ resume: 'runs/x', out: 'runs/y' }), /drop --out/);
  assert.equal(checkTrain({ resume: 'runs/x', 'max-steps': 10, workers: 2, json: true, metrics: false }), true);
});

test('--no-metrics conflicts with a metrics host or port', () => {
  refuses(() => checkTrain({ config: 'c.yaml', metrics: false, 'metrics-port': 9400 }), /--no-metrics conflicts/);
  refuses(() => checkTrain({ config: 'c.yaml', metrics: false, 'metrics-host': '::1' }), /--no-metrics conflicts/);
  assert.equal(checkTrain({ config: 'c.yaml', metrics: true, 'metrics-port': 0 }), true);
});

test('numeric train flags must be numbers', () => {
  refuses(() => checkTrain({ config: 'c.yaml', lr: Number.NaN }), /--lr must be a number/);
  refuses(() => checkTrain({ config: 'c.yaml', 'batch-size': Number.POSITIVE_INFINITY }), /--batch-size must be a number/);
});

test('--workers is an integer from 1 to 256 for train and eval; 0 is not "auto"', () => {
  for (const bad of [0, -1, 1.5, MAX_WORKERS + 1]) {
    refuses(() => checkWorkers(bad), /--workers must be an integer from 1 to 256.*leave it out for one per core/);
    refuses(() => checkEval({ workers: bad }), /--workers/);
    refuses(() => checkTrain({ config: 'c.yaml', workers: bad }), /--workers/);
  }
  for (const ok of [undefined, 1, MAX_WORKERS]) {
    assert.doesNotThrow(() => checkWorkers(ok));
    assert.equal(checkEval(ok === undefined ? {} : { workers: ok }), true);
  }
});

test('predict wants at least one image and --top from 1 to 10', () => {
  refuses(() => checkPredict({ images: [] }), /at least one image/);
  refuses(() => checkPredict({ images: ['a.png'], top: 11 }), /--top must be an integer from 1 to 10/);
  refuses(() => checkPredict({ images: ['a.png'], top: 0 }), /--top/);
  assert.equal(checkPredict({ images: ['a.png'], top: 10 }), true);
});

test('bench takes a comma-separated worker list and positive counts; --warmup may be 0', () => {
  assert.deepEqual(parseWorkerList('1, 2,4'), [1, 2, 4]);
  refuses(() => parseWorkerList('1,,2'), /comma-separated list of integers from 1 to 256 \(got '1,,2'\)/);
  refuses(() => parseWorkerList('0'), /--workers/);
  refuses(() => parseWorkerList('257'), /--workers/);
  refuses(() => checkBench({ steps: 0 }), /--steps must be a positive integer/);
  refuses(() => checkBench({ repeats: 1.5 }), /--repeats must be a positive integer/);
  refuses(() => checkBench({ warmup: -1 }), /--warmup must be an integer >= 0/);
  assert.equal(checkBench({ workers: '1,2', steps: 1, warmup: 0, repeats: 1, 'batch-size': 1 }), true);
});

test('train flags become the config paths they override, unset flags staying undefined', () => {
  const o = trainOverrides({ config: 'c.yaml', workers: 2, 'batch-size': 64, 'data-dir': '/d', metrics: false });
  assert.equal(o['runtime.workers'], 2);
  assert.equal(o['train.batchSize'], 64);
  assert.equal(o['data.dir'], '/d');
  assert.equal(o['metrics.enabled'], false);
  assert.equal(o['optimizer.lr'], undefined);
});
