import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { mkdtemp, readdir, readFile, rm, stat, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers';
import { loadModelDir, saveLayersModel } from '../src/shared/modelFiles.js';
import { ModelError } from '../src/shared/errors.js';

/** Flatten + dense softmax: 7,850 float32 weights = 31,400 bytes. Deterministic initialisers. */
function tinyModel(inputShape: number[] = [28, 28, 1]): tfl.LayersModel {
  const m = tfl.sequential();
  m.add(tfl.layers.flatten({ inputShape }));
  m.add(
    tfl.layers.dense({
      units: 10,
      activation: 'softmax',
      kernelInitializer: tfl.initializers.randomUniform({ minval: -0.05, maxval: 0.05, seed: 7 }),
      biasInitializer: tfl.initializers.constant({ value: 0.01 }),
    }),
  );
  return m;
}

const input = (): tf.Tensor =>
  tf.tensor4d(
    Array.from({ length: 2 * 784 }, (_, i) => (i % 255) / 255),
    [2, 28, 28, 1],
  );

async function tempDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'pixelsense-model-'));
}

/** A saved tiny model in a fresh directory; `layout` 'run' puts it under <dir>/model/. */
async function savedModel(layout: 'run' | 'model' = 'model'): Promise<{ root: string; modelDir: string }> {
  const root = await tempDir();
  const modelDir = layout === 'run' ? join(root, 'model') : root;
  await saveLayersModel(tinyModel(), modelDir);
  return { root, modelDir };
}

async function expectModelError(dir: string, file: RegExp, detail: RegExp): Promise<void> {
  await assert.rejects(loadModelDir(dir), (err: unknown) => {
    assert.ok(err instanceof ModelError, `expected ModelError, got ${String(err)}`);
    assert.equal(err.exitCode, 2);
    assert.match(err.file, file);
    assert.match(err.message, detail);
    return true;
  });
}

before(async () => {
  await tf.setBackend('cpu');
});

test('a saved model round-trips through loadModelDir with identical predictions', async () => {
  const { root } = await savedModel();
  const original = tinyModel();
  const loaded = await loadModelDir(root);
  const x = input();
  const a = (original.predict(x) as tf.Tensor).dataSync();
  const b = (loaded.predict(x) as tf.Tensor).dataSync();
  assert.deepEqual(Array.from(b), Array.from(a));
  await rm(root, { recursive: true });
});

test('saving writes model.json naming weights.bin, the weights file of the right size, and no temp files', async () => {
  const { root } = await savedModel();
  assert.deepEqual((await readdir(root)).sort(), ['model.json', 'weights.bin']);
  const json = JSON.parse(await readFile(join(root, 'model.json'), 'utf8'));
  assert.deepEqual(json.weightsManifest[0].paths, ['weights.bin']);
  assert.equal(json.format, 'layers-model');
  assert.equal((await stat(join(root, 'weights.bin'))).size, 7850 * 4);
  await rm(root, { recursive: true });
});

test('a run directory is accepted as well as a model directory', async () => {
  const { root } = await savedModel('run');
  const model = await loadModelDir(root);
  assert.deepEqual(model.outputs[0]!.shape, [null, 10]);
  await rm(root, { recursive: true });
});

test('plain tfjs-layers loadLayersModel loads a saved model over HTTP', async () => {
  const { root } = await savedModel();
  const server = createServer((req, res) => {
    const name = (req.url ?? '/').slice(1);
    readFile(join(root, name)).then(
      (body) => res.writeHead(200).end(body),
      () => res.writeHead(404).end(),
    );
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  try {
    const { port } = server.address() as { port: number };
    const model = await tfl.loadLayersModel(`http://127.0.0.1:${port}/model.json`);
    const x = input();
    assert.deepEqual(Array.from((model.predict(x) as tf.Tensor).dataSync()), Array.from((tinyModel().predict(x) as tf.Tensor).dataSync()));
  } finally {
    server.close();
    await rm(root, { recursive: true });
  }
});

test('a directory without model.json is a ModelError naming the expected file', async () => {
  const root = await tempDir();
  await expectModelError(root, /model[/\\]model\.json$/, /missing/);
  await expectModelError(join(root, 'nope'), /nope$/, /no such run or model directory/);
  await rm(root, { recursive: true });
});

test('an unparsable model.json is a ModelError saying it is not valid JSON', async () => {
  const { root } = await savedModel();
  await writeFile(join(root, 'model.json'), '{"modelTopology": {');
  await expectModelError(root, /model\.json$/, /not valid JSON/);
  await writeFile(join(root, 'model.json'), '');
  await expectModelError(root, /model\.json$/, /is empty/);
  await rm(root, { recursive: true });
});

test('a model.json without modelTopology or weightsManifest is a ModelError naming the field', async () => {
  const { root } = await savedModel();
  const json = JSON.parse(await readFile(join(root, 'model.json'), 'utf8'));
  await writeFile(join(root, 'model.json'), JSON.stringify({ ...json, modelTopology: undefined }));
  await expectModelError(root, /model\.json$/, /modelTopology/);
  await writeFile(join(root, 'model.json'), JSON.stringify({ ...json, weightsManifest: [] }));
  await expectModelError(root, /model\.json$/, /weightsManifest/);
  await rm(root, { recursive: true });
});

test('a weights file of the wrong size is a ModelError naming weights.bin and both sizes', async () => {
  const { root } = await savedModel();
  const bytes = await readFile(join(root, 'weights.bin'));
  await writeFile(join(root, 'weights.bin'), bytes.subarray(0, bytes.length - 4));
  await expectModelError(root, /weights\.bin$/, /31396 bytes .* 31400 bytes/);
  await rm(root, { recursive: true });
});

test('a missing weights file is a ModelError naming it', async () => {
  const { root } = await savedModel();
  await rm(join(root, 'weights.bin'));
  await expectModelError(root, /weights\.bin$/, /missing/);
  await rm(root, { recursive: true });
});

test('a manifest path leading outside the model directory is refused', async () => {
  const { root } = await savedModel();
  const json = JSON.parse(await readFile(join(root, 'model.json'), 'utf8'));
  json.weightsManifest[0].paths = ['../../etc/passwd'];
  await writeFile(join(root, 'model.json'), JSON.stringify(json));
  await expectModelError(root, /model\.json$/, /outside the model directory/);
  await rm(root, { recursive: true });
});

test('a model that does not take 28x28x1 images is a ModelError about its input shape', async () => {
  const root = await tempDir();
  await mkdir(root, { recursive: true });
  await saveLayersModel(tinyModel([784, 1]), root);
  await expectModelError(root, /model\.json$/, /input shape/);
  await rm(root, { recursive: true });
});

test('a topology tfjs cannot build is a ModelError saying so', async () => {
  const { root } = await savedModel();
  const json = JSON.parse(await readFile(join(root, 'model.json'), 'utf8'));
  json.modelTopology.config.layers[1].class_name = 'NoSuchLayer';
  await writeFile(join(root, 'model.json'), JSON.stringify(json));
  await expectModelError(root, /model\.json$/, /cannot build the model: .*NoSuchLayer/);
  await rm(root, { recursive: true });
});
