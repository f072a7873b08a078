/**
 * IDX reader: the real files parse (test/support/data.ts says where they
 * come from), every kind of corrupt file is a DataError
 * that names the file and the defect, and (property tests) no byte string can
 * make the reader throw anything else.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { DataError } from '../src/shared/errors.js';
import { encodeIdx, parseIdx, readIdxFile, readIdxHeader, type IdxData } from '../src/coordinator/data/idx.js';
import { fashionMnistDir } from './support/data.js';

/** A small valid images file: n images whose pixels are (i*7+p) & 255. */
function images(n: number): Uint8Array {
  const pixels = new Uint8Array(n * 784).map((_, i) => (i * 7) & 255);
  return encodeIdx({ kind: 'images', pixels });
}
function labels(values: number[]): Uint8Array {
  return encodeIdx({ kind: 'labels', labels: Uint8Array.from(values) });
}

/** Asserts a DataError whose message is `<file>: <...matching re...>`. */
function rejects(fn: () => unknown, file: string, re: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof DataError, `expected DataError, got ${String(err)}`);
    assert.ok(err.message.startsWith(`${file}: `), err.message);
    assert.match(err.message, re);
    return true;
  });
}

test('the real Fashion-MNIST files parse with the expected counts and dimensions', async () => {
  const dir = await fashionMnistDir();
  const trainImages = await readIdxFile(join(dir, 'train-images-idx3-ubyte.gz'), 'images');
  assert.equal(trainImages.count, 60000);
  assert.equal(trainImages.rows, 28);
  assert.equal(trainImages.cols, 28);
  assert.equal(trainImages.pixels.length, 60000 * 784);
  const trainLabels = await readIdxFile(join(dir, 'train-labels-idx1-ubyte.gz'), 'labels');
  assert.equal(trainLabels.count, 60000);
  const testImages = await readIdxFile(join(dir, 't10k-images-idx3-ubyte.gz'), 'images');
  assert.equal(testImages.count, 10000);
  const testLabels = await readIdxFile(join(dir, 't10k-labels-idx1-ubyte.gz'), 'labels');
  assert.equal(testLabels.count, 10000);
  assert.ok(testLabels.labels.every((l) => l < 10));
});

test('the header of a gzipped file is read without decompressing all of it', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'pixelsense-idx-'));
  try {
    // 2,000 images of noise (gzip cannot shrink them), cut to 100 kB: only the header reader can get anything out of it.
    let x = 1;
    const pixels = Uint8Array.from({ length: 2000 * 784 }, () => {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      return x >>> 24;
    });
    const file = join(dir, 'train-images-idx3-ubyte.gz');
    await writeFile(file, encodeIdx({ kind: 'images', pixels }, { gzip: true }).subarray(0, 100_000));
    assert.deepEqual(await readIdxHeader(file), { kind: 'images', count: 2000, rows: 28, cols: 28 });
    await assert.rejects(readIdxFile(file), (e: unknown) => e instanceof DataError && /broken gzip/.test(e.message));
    const labelsFile = join(dir, 't10k-labels-idx1-ubyte.gz');
    await writeFile(labelsFile, encodeIdx({ kind: 'labels', labels: new Uint8Array(10000) }, { gzip: true }));
    assert.deepEqual(await readIdxHeader(labelsFile), { kind: 'labels', count: 10000 });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('encoded files round-trip, raw and gzipped', () => {
  const raw = images(3);
  const parsed = parseIdx(raw, 'a');
  assert.equal(parsed.kind, 'images');
  const gz = encodeIdx({ kind: 'images', pixels: parsed.kind === 'images' ? parsed.pixels : new Uint8Array() }, { gzip: true });
  assert.deepEqual(parseIdx(gz, 'b', 'images').pixels, parseIdx(raw, 'a', 'images').pixels);
  assert.deepEqual([...parseIdx(labels([0, 9, 3]), 'c', 'labels').labels], [0, 9, 3]);
});

test('a file with the wrong magic number is rejected, naming the file and the number', () => {
  const bytes = labels([1, 2]);
  bytes[3] = 0x02; // 2050
  rejects(() => parseIdx(bytes, 'x.idx'), 'x.idx', /wrong magic number 2050/);
});

test('an images file where labels are expected is rejected by its magic number', () => {
  rejects(() => parseIdx(images(1), 'y.idx', 'labels'), 'y.idx', /wrong magic number 2051 .*expected 2049/);
});

test('a truncated images file is rejected as truncated', () => {
  const bytes = images(3).subarray(0, 16 + 784 * 2 + 100);
  rejects(() => parseIdx(bytes, 't.idx'), 't.idx', /truncated: header says 3 images .* \(2 whole images\)/);
});

test('a file too short to hold a header is rejected as truncated', () => {
  rejects(() => parseIdx(new Uint8Array([0, 0, 8]), 's.idx'), 's.idx', /truncated: 3 bytes/);
  rejects(() => parseIdx(images(1).subarray(0, 12), 's.idx'), 's.idx', /truncated: 12 bytes .* images header/);
});

test('a count that disagrees with the file size is rejected as a count mismatch', () => {
  const more = encodeIdx({ kind: 'labels', labels: Uint8Array.from([1, 2, 3]), count: 2 });
  rejects(() => parseIdx(more, 'c.idx'), 'c.idx', /count mismatch: header says 2 labels .*\(1 extra\)/);
  const fewer = encodeIdx({ kind: 'images', pixels: new Uint8Array(784), count: 2 });
  rejects(() => parseIdx(fewer, 'd.idx'), 'd.idx', /truncated: header says 2 images/);
});

test('a label of 10 is rejected as out of range, with its index', () => {
  rejects(() => parseIdx(labels([0, 9, 10, 1]), 'l.idx'), 'l.idx', /label 10 at index 2 is out of range 0\.\.9/);
  rejects(() => parseIdx(labels([255]), 'l.idx'), 'l.idx', /label 255 at index 0/);
});

test('broken gzip is reported as a DataError naming the file, not a raw zlib error', () => {
  const gz = encodeIdx({ kind: 'labels', labels: Uint8Array.from([1, 2, 3]) }, { gzip: true });
  rejects(() => parseIdx(gz.subarray(0, gz.length - 6), 'b.gz'), 'b.gz', /broken gzip/);
  const flipped = Uint8Array.from(gz);
  flipped[12] = (flipped[12] ?? 0) ^ 0xff;
  rejects(() => parseIdx(flipped, 'b.gz'), 'b.gz', /broken gzip/);
});

test('images that are not 28x28 are rejected with their dimensions', () => {
  const bytes = encodeIdx({ kind: 'images', pixels: new Uint8Array(2 * 27 * 28), rows: 27, cols: 28 });
  rejects(() => parseIdx(bytes, 'w.idx'), 'w.idx', /wrong dimensions 27x28; expected 28x28/);
});

test('readIdxFile names the path on disk for a missing or corrupt file', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'pixelsense-idx-'));
  try {
    const missing = join(dir, 'nope.gz');
    await assert.rejects(readIdxFile(missing), (e: unknown) => e instanceof DataError && e.message === `${missing}: file not found`);
    const bad = join(dir, 'bad-labels.gz');
    await writeFile(bad, gzipSync(labels([3, 12])));
    await assert.rejects(readIdxFile(bad, 'labels'), (e: unknown) => e instanceof DataError && e.message.startsWith(`${bad}: label 12`));
    assert.deepEqual(await readFile(bad), await readFile(bad)); // file untouched
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

/** Either a valid, self-consistent result or a DataError naming the file: nothing else. */
function onlyDataError(bytes: Uint8Array): void {
  let out: IdxData;
  try {
    out = parseIdx(bytes, 'prop.idx');
  } catch (err) {
    if (!(err instanceof DataError) || !err.message.startsWith('prop.idx: ')) throw err;
    return;
  }
  if (out.kind === 'images') assert.equal(out.pixels.length, out.count * 784);
  else {
    assert.equal(out.labels.length, out.count);
    assert.ok(out.labels.every((l) => l < 10));
  }
}

test('property: arbitrary bytes never make the reader throw anything but a DataError', () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 4096 }), onlyDataError), { numRuns: 2000 });
});

test('property: arbitrary bytes behind the gzip magic never escape as anything but a DataError', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 2048 }), (tail) => onlyDataError(Uint8Array.from([0x1f, 0x8b, ...tail]))),
    { numRuns: 1000 },
  );
});

test('property: arbitrary bytes gzipped, and IDX-looking headers over arbitrary data, give a result or a DataError', () => {
  const header = fc.tuple(fc.constantFrom(2049, 2051, 2050, 0), fc.nat({ max: 40 }), fc.constantFrom(28, 27, 0));
  fc.assert(
    fc.property(header, fc.uint8Array({ maxLength: 40 * 784 + 64 }), fc.boolean(), ([magic, count, dim], body, gz) => {
      const head = Buffer.alloc(magic === 2051 ? 16 : 8);
      head.writeUInt32BE(magic, 0);
      head.writeUInt32BE(count, 4);
      if (magic === 2051) {
        head.writeUInt32BE(dim, 8);
        head.writeUInt32BE(28, 12);
      }
      const bytes = Buffer.concat([head, body]);
      onlyDataError(gz ? gzipSync(bytes) : bytes);
    }),
    { numRuns: 500 },
  );
});

test('property: corrupting one byte or cutting a valid gzipped file gives a valid file or a DataError', () => {
  const good = encodeIdx({ kind: 'labels', labels: Uint8Array.from({ length: 300 }, (_, i) => i % 10) }, { gzip: true });
  fc.assert(
    fc.property(fc.nat({ max: good.length - 1 }), fc.integer({ min: 1, max: 255 }), fc.boolean(), (at, xor, cut) => {
      const bytes = Uint8Array.from(good);
      bytes[at] = (bytes[at] ?? 0) ^ xor;
      onlyDataError(cut ? good.subarray(0, at) : bytes);
    }),
    { numRuns: 1000 },
  );
});

test('property: any valid images and labels round-trip through encodeIdx and parseIdx', () => {
  fc.assert(
    fc.property(fc.nat({ max: 5 }), fc.array(fc.nat({ max: 9 }), { maxLength: 50 }), fc.boolean(), (n, labs, gz) => {
      const pixels = Uint8Array.from({ length: n * 784 }, (_, i) => (i * 31 + n) & 255);
      assert.deepEqual(parseIdx(encodeIdx({ kind: 'images', pixels }, { gzip: gz }), 'p', 'images').pixels, pixels);
      assert.deepEqual(
        [...parseIdx(encodeIdx({ kind: 'labels', labels: Uint8Array.from(labs) }, { gzip: gz }), 'p', 'labels').labels],
        labs,
      );
    }),
    { numRuns: 200 },
  );
});
