/**
 * Bad input through the real command line: every defect exits 2
 * (1 for images that predict cannot read, while the readable ones are still
 * classified), with one line on stderr naming the file and the field or
 * defect, no stack trace unless --verbose, and nothing written into a run
 * directory that exists unless --overwrite is given. The library-level
 * checks behind these have their own tests (config, idx, modelFiles,
 * predict); these pin down what a user sees.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import sharp from 'sharp';
import { encodeIdx } from '../src/coordinator/data/idx.js';
import { type Run, runCli, snapshot } from './support/cli.js';
import { hugeHeaderPng, yamlFile as writeYaml } from './support/files.js';

const dir = mkdtempSync(join(tmpdir(), 'pixelsense-badinput-'));
const cli = (args: string[]): Promise<Run> => runCli(args);

const esc = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The error lines of a run: data-source progress lines ("data: ...") are not errors. */
const errorLines = (r: Run): string[] =>
  r.stderr
    .trimEnd()
    .split('\n')
    .filter((l) => l !== '' && !l.startsWith('data: '));

/** Exit `code`, exactly one error line matching `re`, and no stack trace. */
function oneLine(r: Run, code: number, re: RegExp): string {
  assert.equal(r.code, code, r.stderr);
  const lines = errorLines(r);
  assert.equal(lines.length, 1, `expected one error line, got:\n${r.stderr}`);
  const line = lines[0] as string;
  assert.match(line, re);
  assert.doesNotMatch(r.stderr, /^\s+at /m, 'no stack trace without --verbose');
  return line;
}

let n = 0;
const yamlFile = (text: string): string => writeYaml(dir, text);

/** A fresh --out path that must still not exist after a refused run. */
const freshOut = (): string => join(dir, `out-${++n}`);

const GOOD =
  'model: { kind: ann, dense: [16] }\ndata: { trainLimit: 128, testLimit: 64 }\ntrain: { epochs: 1, batchSize: 32, microBatchSize: 16 }\nmetrics: { enabled: false }\n';
let runDir: string; // a finished run: a valid model for predict, an existing directory for --out

before(async () => {
  runDir = join(dir, 'run');
  const r = await cli(['train', yamlFile(GOOD), '--workers', '1', '--max-steps', '2', '--out', runDir]);
  assert.equal(r.code, 0, r.stderr);
});

after(() => rmSync(dir, { recursive: true, force: true }));

// ---- configs -------------------------------------------------------------

test('YAML that does not parse exits 2 with one line naming the file', async () => {
  const file = yamlFile('train:\n  epochs: [1, 2\n');
  const out = freshOut();
  oneLine(await cli(['train', file, '--out', out]), 2, new RegExp(`^pixelsense: ${esc(file)}: YAML does not parse`));
  assert.ok(!existsSync(out), 'no run directory is created');
});

for (const [what, text] of [
  ['a 0-byte config file', ''],
  ['a config file of only comments and blank lines', '# nothing here yet\n\n   # still nothing\n'],
] as const) {
  test(`${what} exits 2 with one line naming the file, and trains nothing`, async () => {
    const file = yamlFile(text);
    const out = freshOut();
    oneLine(await cli(['train', file, '--out', out]), 2, new RegExp(`^pixelsense: ${esc(file)}: the config file is empty`));
    assert.ok(!existsSync(out), 'no run directory is created');
  });
}

test('an unknown key exits 2 naming the file and the dotted field', async () => {
  const file = yamlFile(`${GOOD}optimizer: { lr: 0.01, learningRate: 0.1 }\n`);
  oneLine(
    await cli(['train', file, '--out', freshOut()]),
    2,
    new RegExp(`^pixelsense: ${esc(file)}: optimizer\\.learningRate: unknown key 'learningRate'`),
  );
});

test('a wrong type exits 2 naming the field', async () => {
  const file = yamlFile(`${GOOD.replace('epochs: 1', 'epochs: "three"')}`);
  oneLine(await cli(['train', file, '--out', freshOut()]), 2, new RegExp(`^pixelsense: ${esc(file)}: train\\.epochs: .*expected number`));
});

test('zero, negative, NaN and absurd values in the config each exit 2 naming the field', async () => {
  const cases: [string, string][] = [
    ['train: { batchSize: 1000000000 }', 'train.batchSize'],
    ['train: { batchSize: 0 }', 'train.batchSize'],
    ['train: { epochs: -3 }', 'train.epochs'],
    ['optimizer: { lr: -1 }', 'optimizer.lr'],
    ['optimizer: { lr: .nan }', 'optimizer.lr'],
    ['runtime: { workers: 0 }', 'runtime.workers'],
    ['runtime: { workers: 10000 }', 'runtime.workers'],
  ];
  for (const [yaml, field] of cases) {
    const file = yamlFile(`${yaml}\n`);
    oneLine(await cli(['train', file, '--out', freshOut()]), 2, new RegExp(`^pixelsense: ${esc(file)}: ${field.replace('.', '\\.')}: `));
  }
});

test('--workers 0, --workers 10000, --batch-size 1e9 and --lr -1 on the command line each exit 2', async () => {
  const file = yamlFile(GOOD);
  for (const [flags, re] of [
    [['--workers', '0'], /--workers must be an integer from 1 to 256/],
    [['--workers', '10000'], /--workers must be an integer from 1 to 256/],
    [['--batch-size', '1e9'], /train\.batchSize: .*<=8192/],
    [['--lr', '-1'], /optimizer\.lr: .*>0/],
  ] as const) {
    const out = freshOut();
    const r = await cli(['train', file, ...flags, '--out', out]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr.split('\n')[0] ?? '', re);
    assert.doesNotMatch(r.stderr, /^\s+at /m);
    assert.ok(!existsSync(out));
  }
});

test('--verbose adds the stack trace to the error line', async () => {
  const r = await cli(['train', yamlFile('train: { epochs: 0 }\n'), '--out', freshOut(), '--verbose']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^pixelsense: .*train\.epochs/);
  assert.match(r.stderr, /^\s+at /m);
});

// ---- IDX data files ------------------------------------------------------

/** A complete, valid data directory of small IDX files; `spoil` then breaks one of them. */
function dataDir(name: string, spoil: (d: string) => string): { dir: string; file: string } {
  const d = join(dir, name);
  mkdirSync(d);
  const images = (count: number) =>
    encodeIdx({ kind: 'images', pixels: Uint8Array.from({ length: count * 784 }, (_, i) => (i * 13) & 255) }, { gzip: true });
  const labels = (count: number) =>
    encodeIdx({ kind: 'labels', labels: Uint8Array.from({ length: count }, (_, i) => i % 10) }, { gzip: true });
  writeFileSync(join(d, 'train-images-idx3-ubyte.gz'), images(128));
  writeFileSync(join(d, 'train-labels-idx1-ubyte.gz'), labels(128));
  writeFileSync(join(d, 't10k-images-idx3-ubyte.gz'), images(64));
  writeFileSync(join(d, 't10k-labels-idx1-ubyte.gz'), labels(64));
  return { dir: d, file: spoil(d) };
}

async function trainOn(data: { dir: string; file: string }, defect: RegExp): Promise<void> {
  const out = freshOut();
  const line = oneLine(await cli(['train', yamlFile(GOOD), '--data-dir', data.dir, '--out', out]), 2, /^pixelsense: /);
  assert.ok(line.includes(data.file), `names ${data.file}: ${line}`);
  assert.match(line, defect);
  assert.ok(!existsSync(out));
}

test('an IDX file with a wrong magic number exits 2 naming the file and the number', async () => {
  const data = dataDir('magic', (d) => {
    const f = join(d, 'train-labels-idx1-ubyte.gz');
    const raw = encodeIdx({ kind: 'labels', labels: new Uint8Array(128) });
    raw[3] = 0x02;
    writeFileSync(f, gzipSync(raw));
    return f;
  });
  await trainOn(data, /wrong magic number 2050/);
});

test('a truncated IDX file exits 2 naming the file as truncated', async () => {
  const data = dataDir('truncated', (d) => {
    const f = join(d, 'train-images-idx3-ubyte');
    rmSync(`${f}.gz`);
    writeFileSync(f, encodeIdx({ kind: 'images', pixels: new Uint8Array(128 * 784) }).subarray(0, 16 + 100 * 784 + 17));
    return f;
  });
  await trainOn(data, /truncated/);
});

test('an IDX count that disagrees with the file size exits 2 as a count mismatch', async () => {
  const data = dataDir('count', (d) => {
    const f = join(d, 't10k-labels-idx1-ubyte.gz');
    writeFileSync(f, encodeIdx({ kind: 'labels', labels: new Uint8Array(70), count: 64 }, { gzip: true }));
    return f;
  });
  await trainOn(data, /count mismatch/);
});

test('a label of 10 exits 2 naming the file and the index', async () => {
  const data = dataDir('label10', (d) => {
    const f = join(d, 'train-labels-idx1-ubyte.gz');
    writeFileSync(
      f,
      encodeIdx({ kind: 'labels', labels: Uint8Array.from({ length: 128 }, (_, i) => (i === 77 ? 10 : 0)) }, { gzip: true }),
    );
    return f;
  });
  await trainOn(data, /label 10 at index 77/);
});

test('broken gzip exits 2 naming the file', async () => {
  const data = dataDir('gzip', (d) => {
    const f = join(d, 't10k-images-idx3-ubyte.gz');
    const gz = readFileSync(f);
    writeFileSync(f, gz.subarray(0, gz.length - 40));
    return f;
  });
  await trainOn(data, /broken gzip/);
});

// ---- model directories ---------------------------------------------------

function modelCopy(name: string, spoil: (m: string) => void): string {
  const m = join(dir, name);
  cpSync(join(runDir, 'model'), m, { recursive: true });
  spoil(m);
  return m;
}

async function goodPng(): Promise<string> {
  const file = join(dir, 'good.png');
  if (!existsSync(file))
    await sharp(Buffer.alloc(784, 40), { raw: { width: 28, height: 28, channels: 1 } })
      .png()
      .toFile(file);
  return file;
}

test('a model directory without model.json exits 2 from eval and from predict', async () => {
  const m = modelCopy('no-json', (d) => rmSync(join(d, 'model.json')));
  oneLine(await cli(['eval', m, '--workers', '1']), 2, /model\.json: missing/);
  oneLine(await cli(['predict', m, await goodPng()]), 2, /model\.json: missing/);
});

test('a malformed model.json exits 2 from predict naming the file', async () => {
  const m = modelCopy('bad-json', (d) => writeFileSync(join(d, 'model.json'), '{"modelTopology": '));
  oneLine(await cli(['predict', m, await goodPng()]), 2, new RegExp(`^pixelsense: ${esc(join(m, 'model.json'))}: is not valid JSON`));
});

test('weights of the wrong size exit 2 from predict naming weights.bin and both sizes', async () => {
  const m = modelCopy('short-weights', (d) => truncateSync(join(d, 'weights.bin'), 1000));
  oneLine(
    await cli(['predict', m, await goodPng()]),
    2,
    new RegExp(`^pixelsense: ${esc(join(m, 'weights.bin'))}: weights are 1000 bytes but .* describes \\d+ bytes`),
  );
});

// ---- images --------------------------------------------------------------

test('empty, non-image and enormous images exit 1 with one line each, and the good image is still classified', async () => {
  const good = await goodPng();
  const empty = join(dir, 'empty.png');
  writeFileSync(empty, '');
  const text = join(dir, 'notes.jpg');
  writeFileSync(text, 'not an image\n');
  const huge = await hugeHeaderPng(join(dir, 'huge.png'));
  const r = await cli(['predict', runDir, empty, good, text, huge]);
  assert.equal(r.code, 1, r.stderr);
  assert.equal(r.stdout.trim().split('\n').length, 1, r.stdout);
  assert.ok(r.stdout.startsWith(good), r.stdout);
  const lines = errorLines(r);
  assert.equal(lines.length, 3, r.stderr);
  assert.match(lines.find((l) => l.startsWith(empty)) ?? '', /empty/);
  assert.match(lines.find((l) => l.startsWith(text)) ?? '', /not a readable image/);
  assert.match(lines.find((l) => l.startsWith(huge)) ?? '', /20000x20000 .*megapixel limit/);
  assert.doesNotMatch(r.stderr, /^\s+at /m);
});

// ---- run directories -----------------------------------------------------

test('an existing run directory is refused with exit 2 and left untouched without --overwrite', async () => {
  const before = snapshot(runDir);
  oneLine(
    await cli(['train', yamlFile(GOOD), '--out', runDir]),
    2,
    new RegExp(`^pixelsense: ${esc(runDir)}: run directory exists and is not empty; pass --overwrite`),
  );
  assert.deepEqual(snapshot(runDir), before);
});

test('with --overwrite the directory is reused and the old run’s checkpoints are cleared', async () => {
  const out = join(dir, 'reused');
  cpSync(runDir, out, { recursive: true });
  writeFileSync(join(out, 'checkpoints', 'ckpt-000000999.msgpack'), 'stale');
  const r = await cli(['train', yamlFile(GOOD), '--workers', '1', '--max-steps', '1', '--out', out, '--overwrite']);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(readdirSync(join(out, 'checkpoints')), ['ckpt-000000001.msgpack']);
});
