/**
 * A checkpoint whose digest is right but whose fields are wrong (an older or
 * foreign writer, or a crafted file) is refused on resume with exit 2 and a
 * line naming the field, before anything in the run directory is touched.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pack, unpack } from 'msgpackr';
import { runCli, snapshot } from './support/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'pixelsense-ckptfields-'));
const configFile = join(dir, 'ann.yaml');
writeFileSync(
  configFile,
  'model: { kind: ann, dense: [16] }\ndata: { trainLimit: 256, testLimit: 100 }\ntrain: { epochs: 2, batchSize: 64, microBatchSize: 32 }\nmetrics: { enabled: false }\n',
);
const source = join(dir, 'source');
const CKPT = join('checkpoints', 'ckpt-000000002.msgpack');

before(async () => {
  const r = await runCli(['train', configFile, '--workers', '1', '--out', source, '--max-steps', '2']);
  assert.equal(r.code, 0, r.stderr);
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** Copy the run, rewrite its checkpoint's body with `edit` under a correct digest, resume, and expect a refusal. */
async function refused(name: string, edit: (body: Record<string, unknown>) => void): Promise<string> {
  const out = join(dir, name);
  cpSync(source, out, { recursive: true });
  const file = join(out, CKPT);
  const outer = unpack(readFileSync(file)) as { body: Uint8Array };
  const body = unpack(outer.body) as Record<string, unknown>;
  edit(body);
  const packed = pack(body);
  writeFileSync(file, pack({ format: 2, sha256: createHash('sha256').update(packed).digest('hex'), body: packed }));
  const before = snapshot(out);
  const r = await runCli(['train', '--resume', out, '--workers', '1']);
  assert.equal(r.code, 2, r.stderr);
  const errors = r.stderr.split('\n').filter((l) => l.startsWith('pixelsense:'));
  assert.equal(errors.length, 1, r.stderr);
  assert.deepEqual(snapshot(out), before, 'the run directory is left as it was');
  return errors[0] as string;
}

test('a checkpoint whose history is not an array is refused naming the field', async () => {
  assert.match(
    await refused('history', (b) => (b['history'] = { oops: 1 })),
    /ckpt-000000002\.msgpack: invalid checkpoint field history: /,
  );
});

test('a checkpoint without timeToTarget is refused naming the field', async () => {
  assert.match(await refused('ttt', (b) => delete b['timeToTarget']), /invalid checkpoint field timeToTarget: /);
});

test('a checkpoint without elapsedSeconds is refused naming the field', async () => {
  assert.match(await refused('elapsed', (b) => delete b['elapsedSeconds']), /invalid checkpoint field elapsedSeconds: /);
});

test('a checkpoint whose optimizer step count is NaN is refused rather than turning the weights into NaN', async () => {
  assert.match(
    await refused('nan', (b) => ((b['optimizer'] as Record<string, unknown>)['t'] = NaN)),
    /invalid checkpoint field optimizer\.t: /,
  );
});

test("a checkpoint whose weights are not the size of the config's model is refused (exit 2, not an internal error)", async () => {
  const msg = await refused('size', (b) => (b['weights'] = (b['weights'] as Uint8Array).subarray(0, 400)));
  assert.match(msg, /invalid checkpoint field weights: 100 values, but the config's model has \d+/);
});
