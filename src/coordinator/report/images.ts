/**
 * Real images -> Fashion-MNIST input, the way Zalando made the data set:
 * product photo on a white background, trimmed to the article, longest edge
 * resized to 28, sharpened, extended to 28x28 centred, negated (article light
 * on black), greyscale. We reproduce that with sharp (libvips), deciding from
 * the border whether the background is light (invert) or already dark.
 *
 * Costs: one decode at full size is unavoidable; anything larger than
 * WORK_EDGE is shrunk before the pixel loops, so a 24-megapixel photo costs
 * about as much as a 1-megapixel one after decoding.
 */
import type { Stats } from 'node:fs';
import { stat } from 'node:fs/promises';
import sharp, { type Metadata } from 'sharp';
import { ImageError } from '../../shared/errors.js';
import { IMAGE_SIZE, PIXELS } from '../../shared/dataset.js';

/** Refuse files above this size before reading them (no real photo of one garment needs more). */
export const MAX_FILE_BYTES = 50 * 1024 * 1024;
/** Refuse images above this many pixels from the header alone (decompression bombs are small files). */
export const MAX_PIXELS = 100_000_000;
/** Working resolution for background detection and trimming; 28 output pixels need no more. */
const WORK_EDGE = 512;
/** A pixel belongs to the article if it differs from the background by more than this (of 255). */
const TRIM_THRESHOLD = 24;
const FORMATS = new Set(['png', 'jpeg', 'webp']);

/** Greyscale 8-bit image, row-major. */
interface Grey {
  data: Uint8Array;
  width: number;
  height: number;
}

async function checkFile(file: string): Promise<void> {
  let info: Stats;
  try {
    info = await stat(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ImageError(file, code === 'ENOENT' ? 'no such file' : `cannot read (${code ?? String(err)})`);
  }
  if (info.isDirectory()) throw new ImageError(file, 'is a directory, not an image');
  if (!info.isFile()) throw new ImageError(file, 'is not a regular file');
  if (info.size === 0) throw new ImageError(file, 'is empty');
  if (info.size > MAX_FILE_BYTES) {
    throw new ImageError(file, `is ${(info.size / 1048576).toFixed(0)} MB, over the ${MAX_FILE_BYTES / 1048576} MB limit`);
  }
}

/** The size rules of checkFile for an image handed over in memory (`file` only names it in messages). */
function checkBytes(file: string, bytes: Uint8Array): void {
  if (bytes.length === 0) throw new ImageError(file, 'is empty');
  if (bytes.length > MAX_FILE_BYTES) {
    throw new ImageError(file, `is ${(bytes.length / 1048576).toFixed(0)} MB, over the ${MAX_FILE_BYTES / 1048576} MB limit`);
  }
}

/** Decode to greyscale at no more than WORK_EDGE on the longest side; transparency becomes white. */
async function decode(file: string, bytes?: Uint8Array): Promise<Grey> {
  const input = bytes ?? file;
  let meta: Metadata;
  try {
    // Header only, no pixels decoded: no limit here, so the size check below can say what the size is.
    meta = await sharp(input, { limitInputPixels: false }).metadata();
  } catch (err) {
    throw new ImageError(file, `is not a readable image (${firstLine(err)})`);
  }
  if (meta.format === undefined || !FORMATS.has(meta.format)) {
    throw new ImageError(file, `unsupported image format '${meta.format ?? 'unknown'}' (expected PNG, JPEG or WebP)`);
  }
  const w = meta.width ?? 0;
  const h = meta.height ?? 0;
  if (w * h > MAX_PIXELS) {
    throw new ImageError(file, `is ${w}x${h} (${((w * h) / 1e6).toFixed(0)} megapixels), over the ${MAX_PIXELS / 1e6} megapixel limit`);
  }
  try {
    // limitInputPixels makes libvips itself refuse to decode more, whatever the header said.
    const { data, info } = await sharp(input, { limitInputPixels: MAX_PIXELS, failOn: 'error' })
      .rotate() // honour EXIF orientation: phone photos are stored sideways
      .flatten({ background: '#ffffff' }) // a transparent background reads as a light one
      .resize(WORK_EDGE, WORK_EDGE, { fit: 'inside', withoutEnlargement: true })
      .greyscale()
      .raw()
      .toBuffer({ resolveWithObject: true });
    return { data: toSingleChannel(data, info.channels), width: info.width, height: info.height };
  } catch (err) {
    throw new ImageError(file, `cannot be decoded (${firstLine(err)})`);
  }
}

function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0] ?? 'unknown error';
}

/** sharp may keep an alpha or colour channel after greyscale(); take the first channel. */
function toSingleChannel(data: Uint8Array, channels: number): Uint8Array {
  if (channels === 1) return new Uint8Array(data.buffer, data.byteOffset, data.length);
  const out = new Uint8Array(data.length / channels);
  for (let i = 0; i < out.length; i++) out[i] = data[i * channels] ?? 0;
  return out;
}

/** Median of the outermost ring of pixels (the ring is ~2% of the short side, at least 1 px). */
export function borderLevel(img: Grey): number {
  const ring = Math.max(1, Math.round(Math.min(img.width, img.height) * 0.02));
  const hist = new Uint32Array(256);
  let n = 0;
  for (let y = 0; y < img.height; y++) {
    const edgeRow = y < ring || y >= img.height - ring;
    for (let x = 0; x < img.width; x++) {
      if (edgeRow || x < ring || x >= img.width - ring) {
        const v = img.data[y * img.width + x] ?? 0;
        hist[v] = (hist[v] ?? 0) + 1;
        n++;
      }
    }
  }
  let seen = 0;
  for (let v = 0; v < 256; v++) {
    seen += hist[v] ?? 0;
    if (seen * 2 >= n) return v;
  }
  return 255;
}

/**
 * Make the background dark and exactly 0: invert a light background, then
 * stretch [bg, 255] to [0, 255] so an off-white photo backdrop does not become
 * a grey haze the model never saw in training (Fashion-MNIST backgrounds are 0).
 */
function normalise(img: Grey): { img: Grey; inverted: boolean } {
  const level = borderLevel(img);
  const inverted = level > 127;
  const bg = inverted ? 255 - level : level;
  const scale = 255 / Math.max(1, 255 - bg);
  const data = new Uint8Array(img.data.length);
  for (let i = 0; i < data.length; i++) {
    const v = inverted ? 255 - (img.data[i] ?? 0) : (img.data[i] ?? 0);
    data[i] = Math.max(0, Math.min(255, Math.round((v - bg) * scale)));
  }
  return { img: { ...img, data }, inverted };
}

/** Bounding box of pixels brighter than the threshold, or the whole image if none is (blank image). */
export function articleBox(img: Grey): { left: number; top: number; width: number; height: number } {
  let x0 = img.width;
  let y0 = img.height;
  let x1 = -1;
  let y1 = -1;
  for (let y = 0; y < img.height; y++) {
    for (let x = 0; x < img.width; x++) {
      if ((img.data[y * img.width + x] ?? 0) > TRIM_THRESHOLD) {
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
        if (y < y0) y0 = y;
        if (y > y1) y1 = y;
      }
    }
  }
  if (x1 < 0) return { left: 0, top: 0, width: img.width, height: img.height };
  return { left: x0, top: y0, width: x1 - x0 + 1, height: y1 - y0 + 1 };
}

/** Trim, fit the longest edge to 28, sharpen, centre on a black 28x28 canvas. */
async function fitTo28(img: Grey): Promise<Uint8Array> {
  const box = articleBox(img);
  const raw = { width: img.width, height: img.height, channels: 1 as const };
  const scaled = await sharp(img.data, { raw })
    .extract(box)
    .resize(IMAGE_SIZE, IMAGE_SIZE, { fit: 'inside', kernel: 'lanczos3' })
    .toColourspace('b-w') // without it libvips writes one-channel raw input back out as sRGB
    .raw()
    .toBuffer({ resolveWithObject: true });
  const { width: w, height: h } = scaled.info;
  const scaledGrey = toSingleChannel(scaled.data, scaled.info.channels);
  const left = Math.floor((IMAGE_SIZE - w) / 2);
  const top = Math.floor((IMAGE_SIZE - h) / 2);
  // A second pipeline, because sharp applies extend before sharpen within one;
  // Zalando sharpened the resized article before padding it.
  const sharpened = await sharp(scaledGrey, { raw: { width: w, height: h, channels: 1 } })
    .sharpen({ sigma: 1 })
    .toColourspace('b-w')
    .raw()
    .toBuffer({ resolveWithObject: true });
  const src = toSingleChannel(sharpened.data, sharpened.info.channels);
  const out = new Uint8Array(PIXELS);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) out[(y + top) * IMAGE_SIZE + x + left] = src[y * w + x] ?? 0;
  }
  return out;
}

/**
 * Load any PNG, JPEG or WebP and return the 784 pixels (row-major, [0,1]) a
 * model expects. A 28x28 image on a dark background is already in the data
 * set's format and is taken as-is: re-trimming and re-sharpening a Fashion-
 * MNIST image would change what the model sees.
 * Throws ImageError (exit 1) naming the file for anything it cannot use.
 */
export async function loadImageAs28x28(file: string, bytes?: Uint8Array): Promise<Float32Array> {
  if (bytes === undefined) await checkFile(file);
  else checkBytes(file, bytes);
  const grey = await decode(file, bytes);
  let pixels: Uint8Array;
  if (grey.width === IMAGE_SIZE && grey.height === IMAGE_SIZE && borderLevel(grey) <= 127) {
    pixels = grey.data;
  } else {
    pixels = await fitTo28(normalise(grey).img);
  }
  const out = new Float32Array(PIXELS);
  for (let i = 0; i < PIXELS; i++) out[i] = (pixels[i] ?? 0) / 255;
  return out;
}
