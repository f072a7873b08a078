/**
 * `train --overwrite`: only a PixelSense run directory may be overwritten
 * (anything else is refused with exit 2 and left exactly as it was), and the
 * previous run's model, metrics and checkpoints go before the new run starts,
 * so a new run killed with SIGKILL never leaves the old model posing as its own.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli, snapshot, startCli } from './support/cli.js';
import { waitForLog } from './support/runLog.js';

const dir = mkdtempSync(join(tmpdir(), 'pixelsense-overwrite-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const config = (name: string, body: string): string => {
  const f = join(dir, name);
  writeFileSync(f, `${body}\nmetrics: { enabled: false }\n`);
  return f;
};
const ann = config(
  'ann.yaml',
  'model: { kind: ann, dense: [32] }\ndata: { trainLimit: 256, testLimit: 100 }\ntrain: { epochs: 1, batchSize: 64, microBatchSize: 32 }',
);
// Many small steps, so the run is certainly still training when it is killed.
const cnn = config(
  'cnn.yaml',
  'model: { kind: cnn }\ndata: { trainLimit: 4096, testLimit: 100 }\ntrain: { epochs: 5, batchSize: 32, microBatchSize: 16 }',
);

test('--overwrite refuses a non-empty directory that is not a run directory, with exit 2, and changes nothing in it', async () => {
  const home = join(dir, 'home');
  mkdirSync(join(home, 'checkpoints'), { recursive: true });
  writeFileSync(join(home, 'log.jsonl'), 'my own log\n');
  writeFileSync(join(home, 'checkpoints', 'keep.txt'), 'mine');
  writeFileSync(join(home, 'notes.md'), '# notes\n');
  const before = snapshot(home);
  const r = await runCli(['train', ann, '--workers', '1', '--out', home, '--overwrite']);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /not a PixelSense run directory/);
  assert.equal(r.stderr.split('\n').filter((l) => l.startsWith('pixelsense:')).length, 1, r.stderr);
  assert.deepEqual(snapshot(home), before);
});

test('an --overwrite run killed with SIGKILL leaves no model of the previous run behind', async () => {
  const out = join(dir, 'run');
  const first = await runCli(['train', ann, '--workers', '1', '--out', out]);
  assert.equal(first.code, 0, first.stderr);
  assert.ok(existsSync(join(out, 'model', 'model.json')));
  writeFileSync(join(out, 'notes.md'), 'not ours');

  const second = startCli(['train', cnn, '--workers', '1', '--out', out, '--overwrite']);
  // The old run's log ends with 'end'; the new run truncates it first.
  await waitForLog(out, second.done, (events) => events.some((e) => e.event === 'step') && !events.some((e) => e.event === 'end'));
  second.child.kill('SIGKILL');
  const r = await second.done;
  assert.equal(r.code, null);

  assert.match(readFileSync(join(out, 'config.yaml'), 'utf8'), /kind: cnn/);
  for (const stale of ['model', 'metrics.json', 'checkpoints']) assert.ok(!existsSync(join(out, stale)), `${stale} of the ANN run is gone`);
  assert.equal(readFileSync(join(out, 'notes.md'), 'utf8'), 'not ours', 'files a run does not write are left alone');
  const ev = await runCli(['eval', out, '--workers', '1']);
  assert.equal(ev.code, 2, `eval must not evaluate the old ANN model: ${ev.stdout}${ev.stderr}`);
  assert.match(ev.stderr, /model\.json: missing/);
});
