/**
 * Model directories on disk: `model.json` + `weights.bin` in the TensorFlow.js
 * Layers format, so a browser or plain tfjs can `tf.loadLayersModel` what we
 * train. Saving goes through tfjs's own serialiser (a save IOHandler), so the
 * topology JSON is whatever tfjs-layers writes; we only own the files.
 *
 * Loading validates before tfjs sees anything: tfjs's own errors for a
 * truncated weights file or a missing manifest are messages like "Cannot read
 * properties of undefined", with no file name. Every defect here becomes a
 * ModelError `<file>: <defect>` (exit 2).
 */
import type { Stats } from 'node:fs';
import { mkdir, readFile, stat } from 'node:fs/promises';
import { dirname, isAbsolute, join, normalize, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { loadLayersModel, type LayersModel } from '@tensorflow/tfjs-layers';
import { ModelError } from './errors.js';
import { replaceDirAtomic, writeFileSynced } from './atomicFile.js';
import { checkWeightFiles, type GroupFiles } from './weightFiles.js';
import { IMAGE_SIZE, NUM_CLASSES } from './dataset.js';

export const MODEL_JSON = 'model.json';
export const WEIGHTS_BIN = 'weights.bin';

/**
 * Save `model` as `<dir>/model.json` + `<dir>/weights.bin`, as a unit: both
 * files are written and synced in a temp sibling directory, which then
 * replaces `dir` (atomicFile.replaceDirAtomic). A crash never pairs new
 * weights with an old model.json or the reverse.
 */
export async function saveLayersModel(model: LayersModel, dir: string): Promise<void> {
  await mkdir(dirname(resolve(dir)), { recursive: true });
  await replaceDirAtomic(dir, (tmp) => saveModelFiles(model, tmp));
}

async function saveModelFiles(model: LayersModel, dir: string): Promise<void> {
  const handler = tf.io.withSaveHandler(async (artifacts) => {
    if (artifacts.modelTopology === undefined || artifacts.weightSpecs === undefined) {
      throw new ModelError(join(dir, MODEL_JSON), 'tfjs produced no topology or weight specs to save');
    }
    // weightData may be one ArrayBuffer or several (tfjs >= 4.10 shards large models in memory).
    const weights = new Uint8Array(tf.io.CompositeArrayBuffer.join(artifacts.weightData ?? new ArrayBuffer(0)));
    const modelJson: tf.io.ModelJSON = {
      modelTopology: artifacts.modelTopology,
      format: artifacts.format ?? 'layers-model',
      generatedBy: artifacts.generatedBy ?? `TensorFlow.js tfjs-layers v${tf.version_core}`,
      convertedBy: artifacts.convertedBy ?? null,
      weightsManifest: [{ paths: [WEIGHTS_BIN], weights: artifacts.weightSpecs }],
    };
    if (artifacts.trainingConfig !== undefined) modelJson.trainingConfig = artifacts.trainingConfig;
    if (artifacts.userDefinedMetadata !== undefined) modelJson.userDefinedMetadata = artifacts.userDefinedMetadata;
    writeFileSynced(join(dir, WEIGHTS_BIN), weights);
    writeFileSynced(join(dir, MODEL_JSON), JSON.stringify(modelJson));
    return {
      modelArtifactsInfo: {
        dateSaved: new Date(),
        modelTopologyType: 'JSON',
        weightDataBytes: weights.byteLength,
      },
    };
  });
  await model.save(handler);
}

/** False only when nothing is there; EACCES and the like are errors, not "missing". */
async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return false;
    throw new ModelError(path, `cannot stat (${code ?? String(err)})`, { cause: err });
  }
}

/**
 * Find model.json for a run directory (`<dir>/model/model.json`), a model
 * directory (`<dir>/model.json`) or the model.json path itself.
 */
export async function resolveModelJson(runOrModelDir: string): Promise<string> {
  let info: Stats;
  try {
    info = await stat(runOrModelDir);
  } catch {
    throw new ModelError(runOrModelDir, 'no such run or model directory');
  }
  if (info.isFile()) return runOrModelDir;
  for (const candidate of [join(runOrModelDir, 'model', MODEL_JSON), join(runOrModelDir, MODEL_JSON)]) {
    if (await isFile(candidate)) return candidate;
  }
  throw new ModelError(
    join(runOrModelDir, 'model', MODEL_JSON),
    `missing (neither a run directory with model/${MODEL_JSON} nor a model directory with ${MODEL_JSON})`,
  );
}

const DTYPE_BYTES: Record<string, number> = { float32: 4, int32: 4, bool: 1, complex64: 8, uint8: 1, uint16: 2, float16: 2 };

/** Bytes one manifest entry occupies in the weights file (quantised entries store the quantised dtype). */
function entryBytes(entry: tf.io.WeightsManifestEntry, file: string): number {
  const dtype = entry.quantization?.dtype ?? entry.dtype;
  const per = DTYPE_BYTES[dtype];
  if (per === undefined) throw new ModelError(file, `weight '${entry.name}' has unsupported dtype '${dtype}'`);
  if (!Array.isArray(entry.shape) || entry.shape.some((d) => !Number.isInteger(d) || d < 0)) {
    throw new ModelError(file, `weight '${entry.name}' has an invalid shape ${JSON.stringify(entry.shape)}`);
  }
  return entry.shape.reduce((a, b) => a * b, 1) * per;
}

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** Structural checks on a parsed model.json; returns it typed. */
function checkModelJson(json: unknown, file: string): tf.io.ModelJSON {
  if (!isObject(json)) throw new ModelError(file, 'is not a JSON object');
  if (!isObject(json['modelTopology'])) throw new ModelError(file, "missing 'modelTopology' object");
  const manifest = json['weightsManifest'];
  if (!Array.isArray(manifest) || manifest.length === 0) {
    throw new ModelError(file, "missing 'weightsManifest' (a non-empty array of weight groups)");
  }
  manifest.forEach((group: unknown, i) => {
    if (!isObject(group)) throw new ModelError(file, `weightsManifest[${i}] is not an object`);
    const paths = group['paths'];
    if (!Array.isArray(paths) || paths.length === 0 || paths.some((p) => typeof p !== 'string')) {
      throw new ModelError(file, `weightsManifest[${i}].paths must be a non-empty array of file names`);
    }
    for (const p of paths as string[]) {
      // Weights must sit beside model.json: a manifest must not make us read arbitrary files.
      if (isAbsolute(p) || normalize(p).startsWith('..')) {
        throw new ModelError(file, `weightsManifest[${i}].paths: '${p}' points outside the model directory`);
      }
    }
    const weights = group['weights'];
    if (!Array.isArray(weights) || weights.some((w) => !isObject(w) || typeof w['name'] !== 'string')) {
      throw new ModelError(file, `weightsManifest[${i}].weights must be an array of {name, shape, dtype}`);
    }
  });
  return json as unknown as tf.io.ModelJSON;
}

/** Read files checkWeightFiles has vetted; a size that changed since the stat is still caught. */
async function readGroup(group: GroupFiles): Promise<ArrayBuffer> {
  const parts: Uint8Array[] = [];
  for (const f of group.files) {
    try {
      parts.push(await readFile(f));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new ModelError(f, code === 'ENOENT' ? 'missing (listed in the weights manifest)' : `cannot read: ${code ?? err}`);
    }
  }
  const actual = parts.reduce((s, p) => s + p.byteLength, 0);
  if (actual !== group.bytes)
    throw new ModelError(group.files[0] as string, `changed while being read (${actual} bytes, ${group.bytes} at stat)`);
  return tf.io.concatenateArrayBuffers(parts.map((p) => p.buffer.slice(p.byteOffset, p.byteOffset + p.byteLength) as ArrayBuffer));
}

function sameShape(actual: unknown, expected: (number | null)[]): boolean {
  return Array.isArray(actual) && actual.length === expected.length && actual.every((d, i) => d === expected[i]);
}

/**
 * Load a Layers model from a run directory or model directory, validating
 * every file first. The model must take [N,28,28,1] and output [N,10] (the
 * contract every PixelSense model follows); anything else is a ModelError
 * rather than a shape error deep inside predict.
 */
export async function loadModelDir(runOrModelDir: string): Promise<LayersModel> {
  const file = await resolveModelJson(runOrModelDir);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new ModelError(file, `cannot read: ${(err as NodeJS.ErrnoException).code ?? err}`);
  }
  if (text.trim() === '') throw new ModelError(file, 'is empty');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new ModelError(file, `is not valid JSON (${(err as Error).message})`);
  }
  const json = checkModelJson(parsed, file);
  const baseDir = dirname(resolve(file));
  const artifacts = await tf.io.getModelArtifactsForJSON(json, async (manifest) => {
    const specs: tf.io.WeightsManifestEntry[] = [];
    const buffers: ArrayBuffer[] = [];
    const groups = await checkWeightFiles(manifest, baseDir, file, (i) =>
      (manifest[i]?.weights ?? []).reduce((s, w) => s + entryBytes(w, file), 0),
    );
    for (const [i, group] of manifest.entries()) {
      specs.push(...group.weights);
      buffers.push(await readGroup(groups[i] as GroupFiles));
    }
    return [specs, tf.io.concatenateArrayBuffers(buffers)];
  });
  let model: LayersModel;
  try {
    model = await loadLayersModel(tf.io.fromMemory(artifacts));
  } catch (err) {
    throw new ModelError(file, `cannot build the model: ${(err as Error).message.split('\n')[0]}`, { cause: err });
  }
  const inShape = model.inputs[0]?.shape;
  const outShape = model.outputs[0]?.shape;
  if (model.inputs.length !== 1 || !sameShape(inShape, [null, IMAGE_SIZE, IMAGE_SIZE, 1])) {
    model.dispose();
    throw new ModelError(file, `model input shape is ${JSON.stringify(inShape)}, expected [null,28,28,1]`);
  }
  if (model.outputs.length !== 1 || !sameShape(outShape, [null, NUM_CLASSES])) {
    model.dispose();
    throw new ModelError(file, `model output shape is ${JSON.stringify(outShape)}, expected [null,${NUM_CLASSES}]`);
  }
  return model;
}
