/**
 * Worker-count invariance: the same config and seed give
 * bitwise-identical weights for W = 1, 2, 3 and 4. Every random draw inside a
 * step (shuffle, augmentation, dropout) derives from (seed, epoch, step,
 * micro-batch), micro-batches are fixed independently of W, and gradients
 * and batch-norm statistics are reduced in micro-batch index order — so the
 * SHA-256 of the weights must not depend on W at all, not just nearly.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { latestCheckpoint } from '../src/coordinator/training/checkpoint.js';
import { configHash, loadConfig } from '../src/shared/config.js';
import { runCli, sha256, type Run } from './support/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'pixelsense-invariance-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
const cli = (args: string[]): Promise<Run> => runCli(args);

// A small CNN with every source of in-step randomness switched on: dropout,
// translation, flips, random erasing; batch norm, whose moving statistics the
// parameter server reduces from per-micro-batch means and variances; plus
// label smoothing, AdamW and a warmup + cosine schedule. 320 examples / batch 64 = 5 steps per epoch, 2
// epochs; 4 micro-batches of 16 per step, so W = 3 gets uneven shards (1/1/2)
// and W = 4 one micro-batch each.
const CONFIG = `
model:
  kind: cnn
  conv: [{ filters: 4 }, { filters: 8 }]
  dense: [16]
  dropout: 0.3
  batchNorm: true
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

test('the same config and seed give bitwise-identical weights.bin and optimizer state for 1, 2, 3 and 4 workers', async () => {
  const configFile = join(dir, 'cnn.yaml');
  writeFileSync(configFile, CONFIG);
  const digests = new Map<number, string>();
  const states = new Map<number, string>();
  for (const workers of [1, 2, 3, 4]) {
    const out = join(dir, `w${workers}`);
    const r = await cli(['train', configFile, '--workers', String(workers), '--out', out, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const summary = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as { workers: number; steps: number };
    assert.deepEqual([summary.workers, summary.steps], [workers, 10]);
    digests.set(workers, sha256(readFileSync(join(out, 'model', 'weights.bin'))));
    // The final checkpoint: weights (with the batch-norm moving statistics) and Adam's moments.
    const c = latestCheckpoint(out, configHash(loadConfig(join(out, 'config.yaml'))));
    const bytes = (a: Float32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    states.set(
      workers,
      createHash('sha256').update(bytes(c.weights)).update(bytes(c.optimizer.m)).update(bytes(c.optimizer.v)).digest('hex'),
    );
  }
  console.log(`# weights.bin sha256 by worker count: ${JSON.stringify(Object.fromEntries(digests))}`);
  assert.equal(new Set(digests.values()).size, 1, JSON.stringify(Object.fromEntries(digests)));
  assert.equal(new Set(states.values()).size, 1, JSON.stringify(Object.fromEntries(states)));
});
