/**
 * Property tests for the config loader: arbitrary text, arbitrary
 * YAML documents and arbitrary values under the real keys never escape as
 * anything but a ConfigError naming the file, and whatever is accepted is a
 * config the rest of the program can rely on.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { stringify as toYaml } from 'yaml';
import { applyOverrides, configHash, configToYaml, loadConfig, parseConfig, readConfigYaml, type Config } from '../src/shared/config.js';
import { ConfigError } from '../src/shared/errors.js';

const FILE = 'prop.yaml';

/** What loadConfig does after reading the file. */
function fromText(text: string, overrides: Record<string, unknown> = {}): Config {
  return parseConfig(applyOverrides(readConfigYaml(text, FILE), overrides), FILE);
}

/** The result is a valid Config, or the error is a ConfigError naming the file: nothing else. */
function configOrConfigError(fn: () => Config): void {
  let cfg: Config;
  try {
    cfg = fn();
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    assert.ok(err.message.startsWith(`${FILE}: `), err.message);
    assert.ok(!err.message.includes('\n'), `one line: ${err.message}`);
    return;
  }
  checkAccepted(cfg);
}

/** What the trainer assumes of any accepted config. */
function checkAccepted(cfg: Config): void {
  const { train, optimizer, runtime } = cfg;
  for (const v of [train.epochs, train.batchSize, train.microBatchSize]) assert.ok(Number.isInteger(v) && v >= 1, String(v));
  assert.ok(train.microBatchSize <= train.batchSize);
  assert.ok(Number.isFinite(optimizer.lr) && optimizer.lr > 0);
  assert.ok(runtime.workers === null || (Number.isInteger(runtime.workers) && runtime.workers >= 1 && runtime.workers <= 256));
  if (cfg.model.kind === 'cnn') assert.ok(cfg.model.conv.length > 0);
  // What a run directory stores (config.yaml) reads back as the same config.
  assert.equal(configHash(parseConfig(readConfigYaml(configToYaml(cfg), FILE), FILE)), configHash(cfg));
}

// The real section and field names, so generated documents get past the unknown-key check.
const DEFAULTS = parseConfig({}, 'defaults') as unknown as Record<string, Record<string, unknown>>;
const SECTIONS = Object.keys(DEFAULTS);

/** Values of every kind a YAML document can produce, biased towards the edge cases of numbers. */
const value: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(
    0,
    -0,
    1,
    -1,
    0.5,
    1e9,
    -1e9,
    256,
    257,
    8192,
    8193,
    2 ** 31,
    2 ** 53 + 2,
    Number.NaN,
    Infinity,
    -Infinity,
    null,
    true,
    false,
    '',
    'cnn',
    'ann',
    'adam',
    'cosine',
    'same',
    '1',
    'NaN',
  ),
  fc.double(),
  fc.integer(),
  fc.string({ maxLength: 8 }),
  fc.array(
    fc.oneof(
      fc.integer({ min: -2, max: 300 }),
      fc.record(
        { filters: fc.integer({ min: -1, max: 40 }), kernel: fc.integer({ min: 0, max: 12 }), pool: fc.integer({ min: 0, max: 5 }) },
        { requiredKeys: [] },
      ),
    ),
    { maxLength: 4 },
  ),
  fc.dictionary(fc.string({ maxLength: 5 }), fc.integer(), { maxKeys: 2 }),
);

/** A config-shaped object: real sections and keys (with the odd stray one), arbitrary values. */
const configLike: fc.Arbitrary<Record<string, unknown>> = fc.dictionary(
  fc.oneof(
    { weight: 9, arbitrary: fc.constantFrom(...SECTIONS) },
    { weight: 1, arbitrary: fc.constantFrom('trainer', '__proto__', 'constructor', '') },
  ),
  fc.oneof(
    {
      weight: 8,
      arbitrary: fc.dictionary(
        fc.constantFrom(...new Set(SECTIONS.flatMap((s) => Object.keys(DEFAULTS[s] ?? {}))), 'bogus', '__proto__'),
        value,
        { maxKeys: 4 },
      ),
    },
    { weight: 1, arbitrary: value },
  ),
  { maxKeys: 4 },
);

test('property: arbitrary text never makes the loader throw anything but a ConfigError', () => {
  fc.assert(
    fc.property(fc.string({ maxLength: 300, unit: 'binary' }), (text) => configOrConfigError(() => fromText(text))),
    { numRuns: 1000 },
  );
});

test('property: YAML-looking text built from YAML syntax never makes the loader throw anything but a ConfigError', () => {
  const token = fc.constantFrom(
    ...SECTIONS.map((s) => `${s}:`),
    'epochs:',
    'batchSize:',
    'microBatchSize:',
    'lr:',
    'workers:',
    'kind:',
    'conv:',
    'dense:',
    'filters:',
    ' ',
    '  ',
    '\n',
    '\n  ',
    '\t',
    '- ',
    ': ',
    '? ',
    '{',
    '}',
    '[',
    ']',
    ',',
    '"',
    "'",
    '#',
    '|',
    '>',
    '---',
    '...',
    '&a ',
    '*a',
    '<<: *a',
    '!!str ',
    '!!int ',
    '!!float ',
    '!!binary ',
    '!!js/function ',
    '!custom ',
    '%YAML 1.1\n',
    '0',
    '-1',
    '1e9',
    '.nan',
    '.inf',
    '-.inf',
    '0x1F',
    '0o17',
    '1_000',
    'null',
    '~',
    'true',
    'yes',
    'cnn',
    '2024-01-01',
  );
  fc.assert(
    fc.property(fc.array(token, { maxLength: 40 }), (tokens) => configOrConfigError(() => fromText(tokens.join('')))),
    { numRuns: 1500 },
  );
});

test('property: arbitrary values under the real keys are accepted as a valid config or rejected with a ConfigError', () => {
  fc.assert(
    fc.property(configLike, (doc) => configOrConfigError(() => fromText(toYaml(doc)))),
    { numRuns: 1500 },
  );
});

test('property: arbitrary JSON-like documents, and CLI overrides over them, never escape as anything but a ConfigError', () => {
  const override = fc.dictionary(
    fc.constantFrom(
      'runtime.workers',
      'train.epochs',
      'train.batchSize',
      'train.maxSteps',
      'optimizer.lr',
      'train.seed',
      'metrics.port',
      'metrics.enabled',
      'data.dir',
    ),
    fc.oneof(value, fc.constant(undefined)),
    { maxKeys: 4 },
  );
  fc.assert(
    fc.property(fc.oneof(fc.jsonValue({ maxDepth: 3 }), configLike), override, (doc, flags) =>
      configOrConfigError(() => fromText(toYaml(doc), flags)),
    ),
    { numRuns: 1000 },
  );
});

test('property: aliases that expand exponentially (a billion laughs) are refused, not expanded', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pixelsense-config-prop-'));
  try {
    fc.assert(
      fc.property(fc.integer({ min: 3, max: 12 }), fc.integer({ min: 2, max: 9 }), (levels, width) => {
        const lines = ['a0: &a0 [x]'];
        for (let i = 1; i <= levels; i++) lines.push(`a${i}: &a${i} [${Array.from({ length: width }, () => `*a${i - 1}`).join(', ')}]`);
        const file = join(dir, FILE);
        writeFileSync(file, `${lines.join('\n')}\n`);
        assert.throws(
          () => loadConfig(file),
          (err: unknown) => err instanceof ConfigError,
        );
      }),
      { numRuns: 50 },
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
