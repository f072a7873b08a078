/**
 * Worker-count invariance (issue #7): the same config and seed give
 * bitwise-identical weights for W = 1, 2, 3 and 4. Every random draw inside a
 * step (shuffle, augmentation, dropout) derives from (seed, epoch, step,
 * micro-batch), micro-batches are fixed independently of W, and gradients
 * and batch-norm statistics are reduced in micro-batch index order — so the
 * SHA-256 of the weights must not depend on W at all, not just nearly.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadFashionMnist } from '../src/coordinator/fashionMnist.js';
import { TrainingMetrics } from '../src/coordinator/metrics.js';
import { createReporter } from '../src/coordinator/progress.js';
import { RunDir } from '../src/coordinator/runDir.js';
import { Trainer } from '../src/coordinator/trainer.js';
import { parseConfig } from '../src/shared/config.js';

const CLI = fileURLToPath(new URL('../src/coordinator/cli.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'pixelsense-invariance-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function cli(args: string[]): Promise<Run> {
  const env = { ...process.env };
  delete env['PIXELSENSE_FAULT'];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

// A small CNN with every source of in-step randomness switched on: dropout,
// translation, flips, random erasing; plus label smoothing, AdamW and a
// warmup + cosine schedule. 320 examples / batch 64 = 5 steps per epoch, 2
// epochs; 4 micro-batches of 16 per step, so W = 3 gets uneven shards (1/1/2)
// and W = 4 one micro-batch each.
const CONFIG = `
model:
  kind: cnn
  conv: [{ filters: 4 }, { filters: 8 }]
  dense: [16]
  dropout: 0.3
data:
  trainLimit: 320
  testLimit: 100
augment:
  translate: 2
  flip: true
  erase: 0.5
train:
  epochs: 2
  batchSize: 64
  microBatchSize: 16
  labelSmoothing: 0.1
  seed: 7
optimizer:
  name: adamw
  weightDecay: 0.01
schedule:
  name: cosine
  warmupEpochs: 0.5
metrics:
  enabled: false
`;

test('the same config and seed give bitwise-identical weights.bin for 1, 2, 3 and 4 workers', async () => {
  const configFile = join(dir, 'cnn.yaml');
  writeFileSync(configFile, CONFIG);
  const digests = new Map<number, string>();
  for (const workers of [1, 2, 3, 4]) {
    const out = join(dir, `w${workers}`);
    const r = await cli(['train', configFile, '--workers', String(workers), '--out', out, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const summary = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as { workers: number; steps: number };
    assert.deepEqual([summary.workers, summary.steps], [workers, 10]);
    digests.set(workers, sha256(readFileSync(join(out, 'model', 'weights.bin'))));
  }
  console.log(`# weights.bin sha256 by worker count: ${JSON.stringify(Object.fromEntries(digests))}`);
  assert.equal(new Set(digests.values()).size, 1, JSON.stringify(Object.fromEntries(digests)));
});

test('batch-norm statistics and weights are bitwise identical for 1 and 3 workers', async () => {
  // In-process through the Trainer, without exporting a model: the weights
  // vector here includes the batch-norm moving statistics the parameter
  // server reduces from per-micro-batch means and variances.
  const cfg = parseConfig(
    {
      model: { kind: 'cnn', conv: [{ filters: 4 }], dense: [16], dropout: 0.2, batchNorm: true },
      data: { trainLimit: 192, testLimit: 50 },
      augment: { translate: 1, flip: true },
      train: { epochs: 2, batchSize: 48, microBatchSize: 16, seed: 11 },
      metrics: { enabled: false },
    },
    'invariance.test',
  );
  const dataset = await loadFashionMnist({ trainLimit: 192, testLimit: 50 });
  const digest = async (workers: number): Promise<string> => {
    const runDir = RunDir.create(join(dir, `bn-w${workers}`), false);
    const metrics = new TrainingMetrics({ runId: `bn${workers}`, model: 'cnn', backend: 'wasm', workers, configFile: 'invariance.test' });
    const trainer = await Trainer.create({ cfg, configFile: 'invariance.test', runDir, dataset, workers, metrics, reporter: createReporter({ quiet: true }), stopRequested: () => false });
    try {
      await trainer.runSteps(6); // 4 steps per epoch: crosses into the second epoch's order
      return sha256(new Uint8Array(trainer.weights.slice().buffer));
    } finally {
      await trainer.close();
    }
  };
  const one = await digest(1);
  const three = await digest(3);
  assert.equal(three, one);
});
