/**
 * A model.json is untrusted input: its weights manifest must not make
 * eval/predict read a file thousands of times, block on a FIFO, or follow a
 * symbolic link out of the model directory. Each is a ModelError, found by
 * stat before any weight byte is read.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers';
import { loadModelDir, saveLayersModel } from '../src/shared/modelFiles.js';
import { ModelError } from '../src/shared/errors.js';

async function withModel(
  fn: (dir: string, json: Record<string, unknown> & { weightsManifest: { paths: string[] }[] }) => Promise<void>,
): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), 'pixelsense-hostile-'));
  try {
    const m = tfl.sequential();
    m.add(tfl.layers.flatten({ inputShape: [28, 28, 1] }));
    m.add(tfl.layers.dense({ units: 10, activation: 'softmax' }));
    const dir = join(root, 'model');
    await saveLayersModel(m, dir);
    await fn(dir, JSON.parse(await readFile(join(dir, 'model.json'), 'utf8')));
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

const modelError = (pattern: RegExp) => (e: unknown) => e instanceof ModelError && pattern.test(e.message);

test('a manifest that lists weights.bin 5,000 times is refused before reading it even once more', async () => {
  await withModel(async (dir, json) => {
    json.weightsManifest[0]!.paths = Array.from({ length: 5000 }, () => 'weights.bin');
    await writeFile(join(dir, 'model.json'), JSON.stringify(json));
    await assert.rejects(
      loadModelDir(dir),
      modelError(/model\.json: weightsManifest\[0\]\.paths: 'weights\.bin' is listed more than once/),
    );
  });
});

test('a weights path that names a FIFO is refused instead of blocking forever', { timeout: 20_000 }, async () => {
  await withModel(async (dir) => {
    await rm(join(dir, 'weights.bin'));
    execFileSync('mkfifo', [join(dir, 'weights.bin')]);
    await assert.rejects(loadModelDir(dir), modelError(/weights\.bin: is not a regular file/));
  });
});

test('a weights file that is a symbolic link is refused, not followed', async () => {
  await withModel(async (dir) => {
    const outside = join(dir, '..', 'elsewhere.bin');
    await rename(join(dir, 'weights.bin'), outside);
    await symlink(outside, join(dir, 'weights.bin'));
    await assert.rejects(loadModelDir(dir), modelError(/weights\.bin: is a symbolic link/));
  });
});

test('weight files whose total size differs from the manifest are refused by their size on disk', async () => {
  await withModel(async (dir) => {
    await writeFile(join(dir, 'weights.bin'), Buffer.alloc(12));
    await assert.rejects(loadModelDir(dir), modelError(/weights\.bin: weights are 12 bytes but .*model\.json describes 31400 bytes/));
  });
});

test('an untampered model still loads', async () => {
  await withModel(async (dir) => {
    const model = await loadModelDir(dir);
    assert.deepEqual(model.outputs[0]?.shape, [null, 10]);
    model.dispose();
  });
});
