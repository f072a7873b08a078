/**
 * predict(): classify images (paths or encoded bytes) with a saved model.
 * One result per input, in input order; an image that cannot be used gets an
 * `error` result and the others are still classified. A bad model or bad
 * options reject the whole call (ModelError, UsageError).
 */
import { predictFiles, type ImageSource } from '../report/predict.js';
import type { ImageInput, Prediction, PredictOptions } from './options.js';

export async function predict(runOrModelDir: string, images: readonly ImageInput[], o: PredictOptions = {}): Promise<Prediction[]> {
  const sources = images.map((x, i): ImageSource => (typeof x === 'string' ? { file: x } : { file: `<buffer ${i}>`, bytes: x }));
  const out = await predictFiles(runOrModelDir, sources, { top: o.top ?? 3, ...(o.backend !== undefined ? { backend: o.backend } : {}) });
  return out.results;
}
