/**
 * What `pixelsense train` prints at the start of a run: a one-line config
 * summary rather than the whole resolved config, which --verbose adds (and
 * <out>/config.yaml always holds).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from './support/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'pixelsense-trainoutput-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const config = join(dir, 'tiny.yaml');
writeFileSync(
  config,
  'model: { kind: ann, dense: [16] }\ndata: { trainLimit: 64, testLimit: 32 }\ntrain: { epochs: 1, batchSize: 32, microBatchSize: 16 }\nmetrics: { enabled: false }\n',
);

test('a run starts with a short config summary naming model, data, workers, epochs, batch, optimizer and out', async () => {
  const out = join(dir, 'plain');
  const r = await runCli(['train', config, '--workers', '1', '--out', out]);
  assert.equal(r.code, 0, r.stderr);
  const summary = r.stderr.split('\n').find((l) => l.startsWith(`config ${config}:`));
  assert.ok(summary, r.stderr);
  assert.equal(
    summary,
    `config ${config}: model ann | data 64 train / 32 test | 1 workers | 1 epochs | batch 32 (micro 16) | adam lr 0.001 | out ${out}`,
  );
  assert.doesNotMatch(r.stderr, /\(resolved\)/);
  assert.ok(
    r.stderr.split('\n').every((l) => l.length < 400),
    'no line is the whole config',
  );
  assert.match(readFileSync(join(out, 'config.yaml'), 'utf8'), /labelSmoothing: 0/);
});

test('--verbose also prints the full resolved config', async () => {
  const r = await runCli(['train', config, '--workers', '1', '--out', join(dir, 'verbose'), '--verbose']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, new RegExp(`config ${config.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(resolved\\):\\n`));
  assert.match(r.stderr, /^ {2}labelSmoothing: 0$/m);
});
