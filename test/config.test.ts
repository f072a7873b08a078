import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { applyOverrides, configHash, loadConfig, parseConfig } from '../src/shared/config.js';
import { ConfigError } from '../src/shared/errors.js';
import { yamlFile as writeYaml } from './support/files.js';

const dir = mkdtempSync(join(tmpdir(), 'pixelsense-config-'));
const yamlFile = (name: string, text: string): string => writeYaml(dir, text, name);

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected a ConfigError');
}

test('an empty config resolves to the CNN preset with every default filled in', () => {
  const cfg = parseConfig({}, 'empty.yaml');
  assert.equal(cfg.model.kind, 'cnn');
  assert.deepEqual(
    cfg.model.conv.map((b) => b.filters),
    [32, 64],
  );
  assert.deepEqual(cfg.model.dense, [128]);
  assert.equal(cfg.model.dropout, 0.3);
  assert.equal(cfg.train.batchSize, 128);
  assert.equal(cfg.optimizer.name, 'adam');
});

test('the ann preset has dense 256-128 layers, no conv blocks and no dropout', () => {
  const cfg = parseConfig({ model: { kind: 'ann' } }, 'ann.yaml');
  assert.deepEqual(cfg.model.dense, [256, 128]);
  assert.deepEqual(cfg.model.conv, []);
  assert.equal(cfg.model.dropout, 0);
});

test('an unknown key is rejected with its dotted path and the file name', () => {
  const file = yamlFile('unknown.yaml', 'train:\n  epochs: 2\n  epochz: 3\n');
  const err = configError(() => loadConfig(file));
  assert.equal(err.path, 'train.epochz');
  assert.match(err.message, /unknown\.yaml: train\.epochz: unknown key 'epochz'/);
});

test('an unknown top-level section is rejected', () => {
  const err = configError(() => parseConfig({ trainer: {} }, 'x.yaml'));
  assert.equal(err.path, 'trainer');
});

test('a wrong type names the field', () => {
  const err = configError(() => parseConfig({ train: { batchSize: 'big' } }, 'x.yaml'));
  assert.equal(err.path, 'train.batchSize');
  assert.match(err.message, /expected number/);
});

test('zero, negative, NaN and absurd values are out of range', () => {
  for (const [section, key, value] of [
    ['train', 'batchSize', 1e9],
    ['train', 'batchSize', 0],
    ['optimizer', 'lr', -1],
    ['optimizer', 'lr', Number.NaN],
    ['train', 'epochs', -3],
    ['runtime', 'workers', 10000],
  ] as const) {
    const err = configError(() => parseConfig({ [section]: { [key]: value } }, 'x.yaml'));
    assert.equal(err.path, `${section}.${key}`, `${section}.${key}=${value}`);
  }
});

test('YAML that does not parse is a ConfigError naming the file', () => {
  const file = yamlFile('broken.yaml', 'train:\n  epochs: [1, 2\n');
  const err = configError(() => loadConfig(file));
  assert.match(err.message, /broken\.yaml: YAML does not parse/);
});

test('a missing config file is a ConfigError, not an exception from fs', () => {
  const err = configError(() => loadConfig(join(dir, 'nope.yaml')));
  assert.match(err.message, /config file not found/);
});

test('CLI overrides replace file values and skip undefined flags', () => {
  const raw = { train: { epochs: 3, batchSize: 64 } };
  const out = applyOverrides(raw, { 'train.epochs': 5, 'train.batchSize': undefined, 'optimizer.lr': 0.01 });
  assert.deepEqual(out, { train: { epochs: 5, batchSize: 64 }, optimizer: { lr: 0.01 } });
  assert.deepEqual(raw, { train: { epochs: 3, batchSize: 64 } }, 'the input is not mutated');
});

test('a micro-batch larger than the global batch is refused', () => {
  const err = configError(() => parseConfig({ train: { batchSize: 16, microBatchSize: 32 } }, 'x.yaml'));
  assert.equal(err.path, 'train.microBatchSize');
});

test('conv blocks that shrink the image to nothing are refused', () => {
  const conv = Array.from({ length: 5 }, () => ({ filters: 8 }));
  const err = configError(() => parseConfig({ model: { conv } }, 'x.yaml'));
  assert.match(err.path, /^model\.conv\.\d$/);
});

test('the config hash ignores max steps, workers and metrics but not the learning rate', () => {
  const a = parseConfig({}, 'a');
  const b = parseConfig({ train: { maxSteps: 10 }, runtime: { workers: 3 }, metrics: { port: 0 } }, 'b');
  const c = parseConfig({ optimizer: { lr: 0.002 } }, 'c');
  assert.equal(configHash(a), configHash(b));
  assert.notEqual(configHash(a), configHash(c));
});
