/**
 * Errors that used to be swallowed: only "nothing there" (ENOENT) may read as
 * "no checkpoint" or "missing file"; any other errno is reported with the
 * file it concerns. (EACCES cannot be produced as root, which the CI runs as;
 * ENOTDIR and ELOOP take the same code path.) And the reason `auto` did not
 * pick tfjs-node is kept, and shown with --verbose.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { listCheckpoints } from '../src/coordinator/training/checkpoint.js';
import { loadFashionMnist } from '../src/coordinator/data/fashionMnist.js';
import { resolveModelJson } from '../src/shared/modelFiles.js';
import { CheckpointError, DataError, ModelError } from '../src/shared/errors.js';
import { runCli } from './support/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'pixelsense-errno-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('listCheckpoints reports an unreadable checkpoints directory instead of "no checkpoint"', () => {
  const run = join(dir, 'run');
  mkdirSync(run);
  writeFileSync(join(run, 'checkpoints'), 'not a directory');
  assert.throws(
    () => listCheckpoints(run),
    (e: unknown) => e instanceof CheckpointError && /checkpoints: cannot list checkpoints \(ENOTDIR\)/.test(e.message),
  );
  assert.deepEqual(listCheckpoints(join(dir, 'no-such-run')), [], 'a run without checkpoints has none');
});

test('a data file that cannot be stat-ed (ELOOP) is an error naming it, not a missing file', async () => {
  const d = join(dir, 'data');
  mkdirSync(d);
  symlinkSync('train-images-idx3-ubyte.gz', join(d, 'train-images-idx3-ubyte.gz')); // a link to itself
  await assert.rejects(
    loadFashionMnist({ env: {}, dataDir: d, download: false, npmPackageDir: null, cacheDir: join(dir, 'cache') }),
    (e: unknown) => e instanceof DataError && /train-images-idx3-ubyte\.gz: cannot stat \(ELOOP\)/.test(e.message),
  );
});

test('a model.json that cannot be stat-ed (ELOOP) is an error naming it, not a missing model', async () => {
  const m = join(dir, 'model-dir');
  mkdirSync(join(m, 'model'), { recursive: true });
  symlinkSync('model.json', join(m, 'model', 'model.json'));
  await assert.rejects(
    resolveModelJson(m),
    (e: unknown) => e instanceof ModelError && /model\.json: cannot stat \(ELOOP\)/.test(e.message),
  );
});

test('with --verbose, train says why backend auto did not pick tfjs-node', async (t) => {
  try {
    const name = '@tensorflow/tfjs-node';
    await import(name);
    t.skip('tfjs-node loads on this machine: there is no fallback to explain');
    return;
  } catch {
    // expected here: the optional dependency is not installed
  }
  const cfg = join(dir, 'c.yaml');
  writeFileSync(
    cfg,
    'model: { kind: ann, dense: [8] }\ndata: { trainLimit: 64, testLimit: 20 }\ntrain: { epochs: 1, batchSize: 32, microBatchSize: 32 }\nmetrics: { enabled: false }\n',
  );
  const quiet = await runCli(['train', cfg, '--workers', '1', '--max-steps', '1', '--out', join(dir, 'quiet')]);
  assert.equal(quiet.code, 0, quiet.stderr);
  assert.doesNotMatch(quiet.stderr, /tfjs-node did not load/);
  const loud = await runCli(['train', cfg, '--workers', '1', '--max-steps', '1', '--out', join(dir, 'loud'), '--verbose']);
  assert.equal(loud.code, 0, loud.stderr);
  assert.match(loud.stderr, /backend: auto chose wasm: @tensorflow\/tfjs-node did not load \(Cannot find package '@tensorflow\/tfjs-node'/);
});
