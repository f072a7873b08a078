/**
 * `pixelsense predict`: classify image files with a saved model. Images are
 * independent, so one bad file must not cost the user the others: every file
 * gets a result, either its top-K classes or a one-line error, and the exit
 * code is 1 if any file failed (ImageError's code). A bad model, by contrast,
 * fails the whole command (ModelError, exit 2) before any image is read.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { initBackend, type BackendChoice } from '../../shared/backend.js';
import { CLASS_NAMES, IMAGE_SIZE, NUM_CLASSES, PIXELS } from '../../shared/dataset.js';
import { PixelSenseError, UsageError } from '../../shared/errors.js';
import { loadImageAs28x28 } from './images.js';
import { loadModelDir } from '../../shared/modelFiles.js';

export interface TopClass {
  label: number;
  name: string;
  probability: number;
}

export type PredictResult = { file: string; top: TopClass[] } | { file: string; error: string };

export interface PredictOutput {
  results: PredictResult[];
}

export interface PredictOptions {
  /** How many classes to report per image, 1..10 (default 3). */
  top?: number;
  /** Backend to initialise first; omit to use whatever tfjs already has. */
  backend?: BackendChoice;
}

/** Images decoded at once: sharp runs each on libuv's pool, so a few overlap usefully; more only use memory. */
const DECODE_CONCURRENCY = 4;
/** Examples per forward pass: bounds tensor memory for long file lists and the test set. */
const BATCH = 256;

/**
 * Softmax outputs for `n` images of 784 float pixels each in [0,1],
 * batched. Returns n*10 probabilities, row-major.
 */
export function predictProbabilities(model: LayersModel, pixels: Float32Array, n: number): Float32Array {
  const out = new Float32Array(n * NUM_CLASSES);
  for (let start = 0; start < n; start += BATCH) {
    const m = Math.min(BATCH, n - start);
    const probs = tf.tidy(() => {
      const x = tf.tensor4d(pixels.subarray(start * PIXELS, (start + m) * PIXELS), [m, IMAGE_SIZE, IMAGE_SIZE, 1]);
      return (model.predict(x) as tf.Tensor).dataSync();
    });
    out.set(probs, start * NUM_CLASSES);
  }
  return out;
}

/** The k most probable classes of one probability row, most probable first (ties: lower label first). */
export function topClasses(probs: ArrayLike<number>, k: number): TopClass[] {
  return Array.from({ length: NUM_CLASSES }, (_, label) => ({
    label,
    name: CLASS_NAMES[label] ?? String(label),
    probability: probs[label] ?? 0,
  }))
    .sort((a, b) => b.probability - a.probability || a.label - b.label)
    .slice(0, k);
}

function describe(err: unknown): string {
  if (err instanceof PixelSenseError && 'file' in err) {
    // ImageError's message is "<file>: <detail>"; the result already names the file.
    const prefix = `${String(err.file)}: `;
    return err.message.startsWith(prefix) ? err.message.slice(prefix.length) : err.message;
  }
  return (err instanceof Error ? err.message : String(err)).split('\n')[0] ?? 'unknown error';
}

/** An image to classify: a file path, or encoded bytes (PNG/JPEG/WebP) with a name for the result. */
export interface ImageSource {
  readonly file: string;
  readonly bytes?: Uint8Array;
}

async function decodeAll(sources: readonly ImageSource[]): Promise<(Float32Array | { error: string })[]> {
  const out: (Float32Array | { error: string })[] = new Array(sources.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < sources.length) {
      const i = next++;
      const source = sources[i] as ImageSource;
      try {
        out[i] = await loadImageAs28x28(source.file, source.bytes);
      } catch (err) {
        out[i] = { error: describe(err) };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(DECODE_CONCURRENCY, sources.length) }, worker));
  return out;
}

/** Classify files (paths, or named bytes) with an already-loaded model; results in the order given. */
export async function predictWithModel(model: LayersModel, inputs: readonly (string | ImageSource)[], top = 3): Promise<PredictOutput> {
  const sources = inputs.map((x): ImageSource => (typeof x === 'string' ? { file: x } : x));
  const files = sources.map((s) => s.file);
  const decoded = await decodeAll(sources);
  const good = decoded.flatMap((d, i) => (d instanceof Float32Array ? [i] : []));
  const pixels = new Float32Array(good.length * PIXELS);
  good.forEach((fileIndex, j) => {
    pixels.set(decoded[fileIndex] as Float32Array, j * PIXELS);
  });
  const probs = predictProbabilities(model, pixels, good.length);
  let row = 0;
  const results = decoded.map((d, i): PredictResult => {
    const file = files[i] as string;
    if (!(d instanceof Float32Array)) return { file, error: d.error };
    const at = row++ * NUM_CLASSES;
    return { file, top: topClasses(probs.subarray(at, at + NUM_CLASSES), top) };
  });
  return { results };
}

/**
 * Load the model in `modelDir` (run or model directory) and classify each
 * file. Throws UsageError for a bad `top` and ModelError for a bad model;
 * per-image failures are results, not exceptions.
 */
export async function predictFiles(
  modelDir: string,
  files: readonly (string | ImageSource)[],
  opts: PredictOptions = {},
): Promise<PredictOutput> {
  const top = opts.top ?? 3;
  if (!Number.isInteger(top) || top < 1 || top > NUM_CLASSES) {
    throw new UsageError(`--top must be an integer from 1 to ${NUM_CLASSES}, got ${top}`);
  }
  if (files.length === 0) throw new UsageError('predict needs at least one image file');
  if (opts.backend !== undefined) await initBackend(opts.backend);
  const model = await loadModelDir(modelDir);
  try {
    return await predictWithModel(model, files, top);
  } finally {
    model.dispose();
  }
}

/** 1 if any file failed (ImageError's exit code), else 0. */
export function predictExitCode(out: PredictOutput): number {
  return out.results.some((r) => 'error' in r) ? 1 : 0;
}

/** One line per file: `shoe.jpg: Sneaker 91.2%, Sandal 5.1%, Ankle boot 3.0%` or `bad.png: <error>`. */
export function formatPrediction(r: PredictResult): string {
  if ('error' in r) return `${r.file}: ${r.error}`;
  return `${r.file}: ${r.top.map((t) => `${t.name} ${(t.probability * 100).toFixed(1)}%`).join(', ')}`;
}

/** Text for the terminal: classified files on stdout, failures on stderr (one line each). */
export function formatPredictions(out: PredictOutput): { stdout: string[]; stderr: string[] } {
  const stdout: string[] = [];
  const stderr: string[] = [];
  for (const r of out.results) ('error' in r ? stderr : stdout).push(formatPrediction(r));
  return { stdout, stderr };
}
