/**
 * Worker failures, injected with PIXELSENSE_FAULT: a task that
 * throws, or a worker thread that exits mid-step, has its share of the step
 * run again on a live or replacement thread; the run ends with the weights of
 * a fault-free run and the failures are counted. A task that fails three
 * times aborts the run with a clear error after a checkpoint.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli, type Run } from './support/cli.js';
import { type LogEvent, readLog, weightsDigest, yamlFile } from './support/files.js';

const dir = mkdtempSync(join(tmpdir(), 'pixelsense-faults-'));
const cli = (args: string[], fault?: string): Promise<Run> => runCli(args, fault === undefined ? {} : { fault });

// ANN with dropout: 512 examples / 64 = 8 steps per epoch, 2 epochs; 4 micro-batches per step.
const configFile = yamlFile(
  dir,
  `model: { kind: ann, dense: [64], dropout: 0.2 }
data: { trainLimit: 512, testLimit: 200 }
train: { epochs: 2, batchSize: 64, microBatchSize: 16, seed: 5 }
metrics: { enabled: false }
`,
  'ann.yaml',
);

/** A stand-in Pushgateway: the CLI PUTs its final metrics here (--pushgateway), in Prometheus text format. */
let gateway: Server;
let gatewayUrl = '';
const pushed: string[] = [];

let reference = '';
let faulted: Run;
const faultedDir = join(dir, 'faulted');

before(async () => {
  gateway = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (d: string) => (body += d));
    req.on('end', () => {
      pushed.push(body);
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => gateway.listen(0, '127.0.0.1', resolve));
  gatewayUrl = `http://127.0.0.1:${(gateway.address() as AddressInfo).port}`;

  const ref = await cli(['train', configFile, '--workers', '2', '--out', join(dir, 'reference')]);
  assert.equal(ref.code, 0, ref.stderr);
  reference = weightsDigest(join(dir, 'reference'));
  // Step 5: shard 1's task throws. Step 12: shard 0's worker thread exits.
  faulted = await cli(['train', configFile, '--workers', '2', '--out', faultedDir, '--pushgateway', gatewayUrl], 'throw:5:1,exit:12:0');
});

after(() => {
  gateway.close();
  rmSync(dir, { recursive: true, force: true });
});

test('a task that throws and a worker thread that exits are retried, and the run ends with the weights of a fault-free run', () => {
  assert.equal(faulted.code, 0, faulted.stderr);
  assert.equal(weightsDigest(faultedDir), reference);
});

test('each failed attempt is logged with its task, shard and kind', () => {
  const failures = readLog(faultedDir).filter((e) => e.event === 'worker_failure');
  assert.deepEqual(
    failures.map((f) => [f.task, f.shard, f.kind, f.attempt]),
    [
      ['train step 5 shard 1', 1, 'throw', 1],
      ['train step 12 shard 0', 0, 'exit', 1],
    ],
  );
});

test('the worker-failure metric counts the throw and the exit, by shard and kind', () => {
  const text = pushed.join('\n');
  const count = (shard: string, kind: string): number => {
    const line = text
      .split('\n')
      .find((l) => l.startsWith('pixelsense_worker_failures_total{') && l.includes(`shard="${shard}"`) && l.includes(`kind="${kind}"`));
    return line === undefined ? 0 : Number(line.trim().split(' ').pop());
  };
  assert.ok(text.includes('pixelsense_worker_failures_total'), 'the final metrics were pushed');
  assert.equal(count('1', 'throw'), 1);
  assert.equal(count('0', 'exit'), 1);
});

test('when both worker threads exit, replacement threads run the retries and every later step, with the same final weights', async () => {
  const out = join(dir, 'both-exit');
  // Step 1: the threads running shard 0 and shard 1 both exit, so no original thread is left.
  const r = await cli(['train', configFile, '--workers', '2', '--out', out], 'exit:1:0,exit:1:1');
  assert.equal(r.code, 0, r.stderr);
  const steps = readLog(out).filter((e) => e.event === 'step') as (LogEvent & { step: number; threads: number[] })[];
  assert.equal(steps.length, 16);
  assert.ok(
    steps.every((s) => s.threads.length === 2),
    'every step has both shard results',
  );
  const original = new Set(steps[0]?.threads);
  assert.equal(original.size, 2, 'step 1 ran on the two original threads');
  const later = new Set(steps.slice(1).flatMap((s) => s.threads));
  assert.ok(
    [...later].every((t) => !original.has(t)),
    `original threads ${[...original]}, later ${[...later]}`,
  );
  assert.equal(weightsDigest(out), reference);
});

test('a thread lost after its task flagged its slots is answered from the recorded outcomes: the same weights, and the same loss for that step', async () => {
  const out = join(dir, 'lost');
  // Step 6: shard 1's thread exits after flagging its slots, before it answers. The coordinator has its gradients
  // and publishes step 7 without the answer; the retry must not compute (step 7 writes those slots).
  const r = await cli(['train', configFile, '--workers', '2', '--out', out], 'lost:6:1');
  assert.equal(r.code, 0, r.stderr);
  assert.equal(weightsDigest(out), reference);
  assert.deepEqual(
    readLog(out)
      .filter((e) => e.event === 'worker_failure')
      .map((f) => [f.task, f.kind]),
    [['train step 6 shard 1', 'exit']],
  );
  const step7 = (d: string) => readLog(d).find((e) => e.event === 'step' && e.step === 7);
  assert.deepEqual(
    [step7(out)?.['loss'], step7(out)?.['accuracy']],
    [step7(join(dir, 'reference'))?.['loss'], step7(join(dir, 'reference'))?.['accuracy']],
  );
});

test('a task that fails three times aborts with exit code 1 and one error line, after checkpointing the last completed step', async () => {
  const out = join(dir, 'aborted');
  // Shard 0 of step 3 exits its thread on every attempt: three replacement threads, then give up.
  const r = await cli(['train', configFile, '--workers', '2', '--out', out], 'exit:3:0:3');
  assert.equal(r.code, 1, r.stderr);
  // (With two threads, the third exit necessarily happened on a replacement thread.)
  const last = r.stderr.trimEnd().split('\n').pop() ?? '';
  assert.match(last, /^pixelsense: worker task train step 3 shard 0 failed 3 times: worker exited with code/);
  assert.doesNotMatch(r.stderr, /^\s+at /m, 'no stack trace without --verbose');
  assert.deepEqual(readdirSync(join(out, 'checkpoints')), ['ckpt-000000003.msgpack']);
  const events = readLog(out);
  assert.equal(events.filter((e) => e.event === 'worker_failure').length, 3);
  assert.deepEqual(
    events.filter((e) => e.event === 'abort').map((e) => e.step),
    [3],
  );
  assert.ok(!existsSync(join(out, 'model')), 'no model is exported from an aborted run');

  // Nothing was lost: resuming (without the fault) ends where a fault-free run ends.
  const resumed = await cli(['train', '--resume', out]);
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.equal(weightsDigest(out), reference);
});

test('a malformed PIXELSENSE_FAULT is a usage error (exit 2) before anything runs', async () => {
  const out = join(dir, 'bad-fault');
  const r = await cli(['train', configFile, '--out', out], 'throw:5');
  assert.equal(r.code, 2);
  assert.match(r.stderr, /PIXELSENSE_FAULT: 'throw:5' is not throw:STEP:WORKER/);
  assert.ok(!existsSync(out));
});
