/**
 * Turning shared uint8 examples into model input, inside the worker.
 *
 * Pixels are read straight from the data set's SharedArrayBuffer and scaled
 * to [0, 1] into a fresh Float32Array (one copy, which becomes the tensor's
 * storage). Augmentation happens in the same pass, seeded from
 * (seed, epoch, step, micro-batch), so it is identical on whichever worker
 * runs the micro-batch, and it never runs at evaluation.
 */
import type { Config } from '../shared/config.js';
import { IMAGE_SIZE, PIXELS, type SharedSplit } from '../shared/dataset.js';
import type { Rng } from '../shared/rng.js';

export interface Batch {
  /** count * 784 floats in [0, 1], NHWC with one channel. */
  readonly pixels: Float32Array;
  readonly labels: Int32Array;
  readonly count: number;
}

const SCALE = 1 / 255;

/** Examples `indices` (or the contiguous range start..start+count) of a split, without augmentation. */
export function readExamples(split: SharedSplit, indices: ArrayLike<number>): Batch {
  const images = new Uint8Array(split.images);
  const labelsAll = new Uint8Array(split.labels);
  const n = indices.length;
  const pixels = new Float32Array(n * PIXELS);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const e = indices[i] as number;
    const src = e * PIXELS;
    const dst = i * PIXELS;
    for (let p = 0; p < PIXELS; p++) pixels[dst + p] = (images[src + p] as number) * SCALE;
    labels[i] = labelsAll[e] as number;
  }
  return { pixels, labels, count: n };
}

export function rangeIndices(start: number, count: number): Uint32Array {
  const idx = new Uint32Array(count);
  for (let i = 0; i < count; i++) idx[i] = start + i;
  return idx;
}

/**
 * Augment a batch in place: random translation (shift with zero fill, i.e.
 * the dark background), horizontal flip, random erasing. Costs one 784-float
 * scratch copy per shifted or flipped image.
 */
export function augmentBatch(batch: Batch, aug: Config['augment'], rng: Rng): void {
  if (aug.translate === 0 && !aug.flip && aug.erase === 0) return;
  const scratch = new Float32Array(PIXELS);
  const S = IMAGE_SIZE;
  for (let i = 0; i < batch.count; i++) {
    const img = batch.pixels.subarray(i * PIXELS, (i + 1) * PIXELS);
    const dx = aug.translate > 0 ? rng.int(2 * aug.translate + 1) - aug.translate : 0;
    const dy = aug.translate > 0 ? rng.int(2 * aug.translate + 1) - aug.translate : 0;
    const flip = aug.flip && rng.next() < 0.5;
    if (dx !== 0 || dy !== 0 || flip) {
      scratch.set(img);
      for (let y = 0; y < S; y++) {
        const sy = y - dy;
        for (let x = 0; x < S; x++) {
          const tx = flip ? S - 1 - x : x;
          const sx = tx - dx;
          img[y * S + x] = sy >= 0 && sy < S && sx >= 0 && sx < S ? (scratch[sy * S + sx] as number) : 0;
        }
      }
    }
    if (aug.erase > 0 && rng.next() < aug.erase) {
      // Random erasing (Zhong et al.): area 2%..33% of the image, aspect 0.3..3.3, filled with zeros.
      const area = rng.uniform(0.02, 0.33) * PIXELS;
      const aspect = Math.exp(rng.uniform(Math.log(0.3), Math.log(3.3)));
      const h = Math.min(S, Math.max(1, Math.round(Math.sqrt(area * aspect))));
      const w = Math.min(S, Math.max(1, Math.round(Math.sqrt(area / aspect))));
      const y0 = rng.int(S - h + 1);
      const x0 = rng.int(S - w + 1);
      for (let y = y0; y < y0 + h; y++) img.fill(0, y * S + x0, y * S + x0 + w);
    }
  }
}
