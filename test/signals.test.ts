/**
 * Stopping a run by signal, with real processes and real signals, each sent
 * when the run's log (or output) shows it has reached the right moment:
 * SIGTERM checkpoints before the final evaluation; a hung worker task is
 * timed out and retried elsewhere with the fault-free weights; a second
 * SIGINT exits at once, after checkpointing the last completed step.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { listCheckpoints, readCheckpoint } from '../src/coordinator/training/checkpoint.js';
import { configHash, loadConfig } from '../src/shared/config.js';
import { runCli, sha256, startCli } from './support/cli.js';
import { readLog, waitForLog, waitForOutput } from './support/runLog.js';

const dir = mkdtempSync(join(tmpdir(), 'pixelsense-signals-'));
const children: ChildProcess[] = [];
after(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

// 2048 / 64 = 32 steps, one epoch; no periodic checkpoints.
const configFile = join(dir, 'ann.yaml');
writeFileSync(
  configFile,
  `model: { kind: ann, dense: [64] }
data: { trainLimit: 2048, testLimit: 200 }
train: { epochs: 1, batchSize: 64, microBatchSize: 32, seed: 3 }
runtime: { taskTimeoutSeconds: 3 }
metrics: { enabled: false }
`,
);
const start = (out: string, fault?: string) => {
  const run = startCli(['train', configFile, '--workers', '2', '--out', out], fault === undefined ? {} : { fault });
  children.push(run.child);
  return run;
};
const steps = (n: number) => (events: { event: string }[]) => events.filter((e) => e.event === 'step').length >= n;
const weights = (out: string) => sha256(readFileSync(join(out, 'model', 'weights.bin')));

test('SIGTERM writes the checkpoint of the step it stopped at before the final evaluation', async () => {
  const out = join(dir, 'sigterm');
  const run = start(out);
  await waitForLog(out, run.done, steps(3));
  run.child.kill('SIGTERM');
  const r = await run.done;
  assert.equal(r.code, 130, r.stderr);
  const stoppedAt = Number(/interrupted at step (\d+)/.exec(r.stderr)?.[1]);
  const log = readLog(out);
  const ckpt = log.findIndex((e) => e.event === 'checkpoint' && e.step === stoppedAt);
  const evaluation = log.findIndex((e) => e.event === 'eval' && e.step === stoppedAt);
  assert.ok(ckpt >= 0 && evaluation >= 0, `checkpoint ${ckpt}, eval ${evaluation}`);
  assert.ok(ckpt < evaluation, `checkpoint (line ${ckpt}) must come before the final evaluation (line ${evaluation})`);
  assert.equal(listCheckpoints(out).at(-1), `ckpt-${String(stoppedAt).padStart(9, '0')}.msgpack`);
});

test('a worker task that hangs is timed out, its thread replaced, and the run ends with the weights of a fault-free run', {
  timeout: 180_000,
}, async () => {
  const clean = join(dir, 'clean');
  const ok = await runCli(['train', configFile, '--workers', '2', '--out', clean]);
  assert.equal(ok.code, 0, ok.stderr);
  const hung = join(dir, 'hung');
  const run = start(hung, 'hang:3:0');
  const r = await run.done;
  assert.equal(r.code, 0, r.stderr);
  const failures = readLog(hung).filter((e) => e.event === 'worker_failure');
  assert.equal(failures.length, 1, JSON.stringify(failures));
  assert.equal(failures[0]?.['kind'], 'timeout');
  assert.match(String(failures[0]?.['error']), /no result within 3 s \(runtime\.taskTimeoutSeconds\)/);
  assert.equal(weights(hung), weights(clean));
});

test('SIGTERM puts the last completed step on disk at once, so a SIGKILL while a step hangs loses nothing completed', {
  timeout: 60_000,
}, async () => {
  const out = join(dir, 'grace');
  const run = start(out, 'hang:3:0:3');
  await waitForLog(out, run.done, steps(3));
  run.child.kill('SIGTERM');
  // As `docker stop` does after its grace period; the step in flight never finishes.
  await waitForLog(out, run.done, (events) => events.some((e) => e.event === 'checkpoint' && e.step === 3));
  run.child.kill('SIGKILL');
  await run.done;
  const log = readLog(out);
  const ckptAt = log.findIndex((e) => e.event === 'checkpoint' && e.step === 3);
  const failedAt = log.findIndex((e) => e.event === 'worker_failure');
  assert.ok(failedAt === -1 || ckptAt < failedAt, 'the checkpoint came from the signal, not from the task timeouts running out');
  assert.deepEqual(listCheckpoints(out), ['ckpt-000000003.msgpack']);
  const ckpt = readCheckpoint(join(out, 'checkpoints', 'ckpt-000000003.msgpack'), configHash(loadConfig(join(out, 'config.yaml'))));
  assert.equal(ckpt.step, 3);
});

test('a second SIGINT exits at once, even with a worker hung, after checkpointing the last completed step', {
  timeout: 60_000,
}, async () => {
  const out = join(dir, 'twice');
  // The run's own timeout (3 s) is not what ends it: the second SIGINT comes first.
  const run = start(out, 'hang:3:0:3');
  await waitForLog(out, run.done, steps(3));
  run.child.kill('SIGINT');
  await waitForOutput(run.child.stderr, /SIGINT: stopping after the current step/, run.done);
  run.child.kill('SIGINT');
  const r = await run.done;
  assert.equal(r.code, 130, r.stderr);
  assert.match(r.stderr, /SIGINT again: exiting now; newest checkpoint .*ckpt-000000003\.msgpack/);
  assert.deepEqual(listCheckpoints(out), ['ckpt-000000003.msgpack']);
});

test('SIGTERM during --metrics-linger closes the endpoint and exits 0 at once, the run already complete', async () => {
  const out = join(dir, 'linger');
  const run = startCli([
    'train',
    configFile,
    '--workers',
    '1',
    '--max-steps',
    '2',
    '--out',
    out,
    '--metrics',
    '--metrics-port',
    '0',
    '--metrics-linger',
    '600',
  ]);
  children.push(run.child);
  await waitForOutput(run.child.stderr, /keeping \S+ and the live page \S+ up for 600 s/, run.done);
  const t0 = performance.now();
  run.child.kill('SIGTERM');
  const r = await run.done;
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /SIGTERM: closing the metrics endpoint and the live page/);
  assert.ok(performance.now() - t0 < 60_000, 'it did not sit out the 600 s linger');
  assert.equal(JSON.parse(readFileSync(join(out, 'metrics.json'), 'utf8')).stop_reason, 'max-steps');
});
