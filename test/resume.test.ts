/**
 * Checkpoints and resume: checkpoints every N steps and at each
 * epoch end, newest K kept; a run stopped by --max-steps, SIGTERM or SIGINT
 * leaves a checkpoint, and `train --resume` continues it to weights.bin
 * bitwise equal to an uninterrupted run, whatever the worker counts. A
 * checkpoint from another config, or a truncated or corrupt one, is refused
 * with exit 2 and the run directory is left as it was.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { listCheckpoints, readCheckpoint } from '../src/coordinator/training/checkpoint.js';
import { configHash, loadConfig } from '../src/shared/config.js';
import { planModel } from '../src/shared/modelPlan.js';
import { type Run, runCli, snapshot, startCli } from './support/cli.js';
import { fashionMnistDir } from './support/data.js';
import { readLog, weightsDigest, yamlFile } from './support/files.js';

const dir = mkdtempSync(join(tmpdir(), 'pixelsense-resume-'));
const start = (args: string[]) => startCli(args);
const cli = (args: string[]): Promise<Run> => runCli(args);

const lastLine = (s: string): string => s.trimEnd().split('\n').pop() ?? '';

// ANN with dropout: 512 / 64 = 8 steps per epoch, 6 epochs = 48 steps; a
// checkpoint every 5 steps and at each epoch end, the newest 3 kept.
const STEPS = 48;
const configFile = yamlFile(
  dir,
  `model: { kind: ann, dense: [128], dropout: 0.2 }
data: { trainLimit: 512, testLimit: 200 }
train: { epochs: 6, batchSize: 64, microBatchSize: 16, seed: 9 }
checkpoint: { everySteps: 5, keep: 3 }
metrics: { enabled: false }
`,
  'ann.yaml',
);
const referenceDir = join(dir, 'reference');
let reference = '';

before(async () => {
  const r = await cli(['train', configFile, '--workers', '2', '--out', referenceDir]);
  assert.equal(r.code, 0, r.stderr);
  reference = weightsDigest(referenceDir);
});

after(() => rmSync(dir, { recursive: true, force: true }));

test('checkpoints are written every N steps and at each epoch end, once each, and only the newest K are kept', () => {
  const steps = readLog(referenceDir)
    .filter((e) => e.event === 'checkpoint')
    .map((e) => e.step);
  const expected = Array.from({ length: STEPS }, (_, i) => i + 1).filter((s) => s % 5 === 0 || s % 8 === 0);
  assert.deepEqual(steps, expected);
  assert.deepEqual(readdirSync(join(referenceDir, 'checkpoints')), [
    'ckpt-000000040.msgpack',
    'ckpt-000000045.msgpack',
    'ckpt-000000048.msgpack',
  ]);
});

test('a checkpoint holds the weights, optimizer state, step, data position, seed and config hash', () => {
  const cfg = loadConfig(join(referenceDir, 'config.yaml'));
  const plan = planModel(cfg.model);
  const c = readCheckpoint(join(referenceDir, 'checkpoints', 'ckpt-000000045.msgpack'), configHash(cfg));
  assert.equal(c.step, 45);
  assert.deepEqual([c.epoch, c.stepInEpoch], [5, 5]);
  assert.equal(c.seed, 9);
  assert.equal(c.configHash, configHash(cfg));
  assert.equal(c.weights.length, plan.paramCount + plan.stateCount);
  assert.equal(c.optimizer.t, 45);
  assert.equal(c.optimizer.m.length, plan.paramCount);
  assert.equal(c.optimizer.v.length, plan.paramCount);
});

test('stopping at --max-steps, resuming across an epoch boundary and then to the end gives weights.bin bitwise equal to an uninterrupted run', async () => {
  const out = join(dir, 'chain');
  const first = await cli(['train', configFile, '--workers', '2', '--out', out, '--max-steps', '5', '--json']);
  assert.equal(first.code, 0, first.stderr);
  assert.equal(JSON.parse(lastLine(first.stdout)).stop_reason, 'max-steps');
  assert.deepEqual(listCheckpoints(out), ['ckpt-000000005.msgpack']);

  // Step 5 -> 11 crosses the end of epoch 1 (step 8), on a different worker count.
  const second = await cli(['train', '--resume', out, '--max-steps', '11', '--workers', '3', '--json']);
  assert.equal(second.code, 0, second.stderr);
  assert.equal(JSON.parse(lastLine(second.stdout)).steps, 11);
  assert.deepEqual(listCheckpoints(out), ['ckpt-000000008.msgpack', 'ckpt-000000010.msgpack', 'ckpt-000000011.msgpack']);

  const third = await cli(['train', '--resume', out, '--max-steps', String(STEPS), '--workers', '1', '--json']);
  assert.equal(third.code, 0, third.stderr);
  assert.equal(JSON.parse(lastLine(third.stdout)).stop_reason, 'completed');
  assert.equal(weightsDigest(out), reference);
});

/** A copy of the reference run whose newest checkpoint `damage` spoils; resuming it must fail with exit 2 and change nothing. */
async function refusedResume(name: string, damage: (runDir: string, newest: string) => void): Promise<string> {
  const out = join(dir, name);
  cpSync(referenceDir, out, { recursive: true });
  damage(out, join(out, 'checkpoints', 'ckpt-000000048.msgpack'));
  const before = snapshot(out);
  const r = await cli(['train', '--resume', out, '--max-steps', '100']);
  assert.equal(r.code, 2, r.stderr);
  assert.equal(r.stderr.trimEnd().split('\n').length, 1, `one line, no stack trace: ${r.stderr}`);
  assert.deepEqual(snapshot(out), before, 'the run directory is left as it was');
  return r.stderr.trim();
}

test('a resume refuses a checkpoint written under a different config (edited config.yaml)', async () => {
  const msg = await refusedResume('edited-config', (out) => {
    const file = join(out, 'config.yaml');
    writeFileSync(file, readFileSync(file, 'utf8').replace(/lr: 0\.001/, 'lr: 0.002'));
  });
  assert.match(msg, /ckpt-000000048\.msgpack: checkpoint was written under a different config/);
});

test('a resume refuses a truncated checkpoint instead of starting afresh', async () => {
  const msg = await refusedResume('truncated', (_out, newest) => truncateSync(newest, Math.floor(statSync(newest).size / 2)));
  assert.match(msg, /ckpt-000000048\.msgpack: unreadable or corrupt checkpoint/);
});

test('a resume refuses a checkpoint with one flipped byte, by its SHA-256', async () => {
  const msg = await refusedResume('flipped', (_out, newest) => {
    const bytes = readFileSync(newest);
    const at = bytes.length - 1000; // inside the digested body
    bytes[at] = (bytes[at] ?? 0) ^ 0x01;
    writeFileSync(newest, bytes);
  });
  assert.match(msg, /ckpt-000000048\.msgpack: corrupt checkpoint \(SHA-256/);
});

/** Start a run, wait until its log shows `steps` steps, send `signal`, and wait for it to end. */
async function interrupt(out: string, signal: NodeJS.Signals, steps = 3): Promise<Run> {
  await fashionMnistDir();
  const run = start(['train', configFile, '--workers', '2', '--out', out]);
  let exited = false;
  void run.done.then(() => (exited = true));
  const deadline = Date.now() + 120_000;
  while (readLog(out).filter((e) => e.event === 'step').length < steps) {
    assert.ok(!exited, 'the run ended before it could be interrupted');
    assert.ok(Date.now() < deadline, 'no steps logged within 120 s');
    await new Promise((resolve) => setTimeout(resolve, 20)); // polling interval, not synchronisation
  }
  run.child.kill(signal);
  return run.done;
}

test('SIGTERM stops the run after the current step with a checkpoint and exit code 130, and --resume finishes it to the uninterrupted weights', async () => {
  const out = join(dir, 'sigterm');
  const r = await interrupt(out, 'SIGTERM');
  assert.equal(r.code, 130, r.stderr);
  const stoppedAt = Number(/interrupted at step (\d+)/.exec(r.stderr)?.[1]);
  assert.ok(stoppedAt >= 3 && stoppedAt < STEPS, `stopped at ${stoppedAt}`);
  console.log(`# stopped at step ${stoppedAt} of ${STEPS}`);
  assert.ok(listCheckpoints(out).includes(`ckpt-${String(stoppedAt).padStart(9, '0')}.msgpack`), listCheckpoints(out).join());

  const resumed = await cli(['train', '--resume', out, '--workers', '3']);
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.equal(weightsDigest(out), reference);
});

test('SIGINT (Ctrl-C) likewise leaves a checkpoint of the step it stopped at and exits 130', async () => {
  const out = join(dir, 'sigint');
  const r = await interrupt(out, 'SIGINT');
  assert.equal(r.code, 130, r.stderr);
  const stoppedAt = Number(/interrupted at step (\d+)/.exec(r.stderr)?.[1]);
  assert.ok(stoppedAt >= 3 && stoppedAt < STEPS, `stopped at ${stoppedAt}`);
  console.log(`# stopped at step ${stoppedAt} of ${STEPS}`);
  assert.equal(listCheckpoints(out).at(-1), `ckpt-${String(stoppedAt).padStart(9, '0')}.msgpack`);
});
