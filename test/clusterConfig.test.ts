/**
 * The `cluster:` config section and the multi-host CLI rules: validated like
 * every other section, and never part of the config hash (which hosts
 * compute a run does not change its weights, so a resume may change them).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { configHash, parseConfig } from '../src/shared/config.js';
import { ConfigError } from '../src/shared/errors.js';
import { checkBench, checkHost, checkTrain } from '../src/coordinator/cli/args.js';

test('cluster defaults: no NATS, cluster pixelsense, no hosts awaited, 60 s to join, 30 s per task, one micro-batch of prefetch', () => {
  const c = parseConfig({}, 'f').cluster;
  assert.deepEqual(c, {
    nats: null,
    credsFile: null,
    name: 'pixelsense',
    hosts: 0,
    joinTimeoutSeconds: 60,
    taskTimeoutSeconds: 30,
    prefetch: 1,
  });
});

test('runtime.workers 0 and cluster.hosts need cluster.nats, and the error names the field', () => {
  assert.throws(
    () => parseConfig({ runtime: { workers: 0 } }, 'f.yaml'),
    (e: unknown) => e instanceof ConfigError && e.path === 'runtime.workers',
  );
  assert.throws(
    () => parseConfig({ cluster: { hosts: 2 } }, 'f.yaml'),
    (e: unknown) => e instanceof ConfigError && e.path === 'cluster.hosts',
  );
  assert.throws(
    () => parseConfig({ cluster: { name: 'a.b' } }, 'f.yaml'),
    (e: unknown) => e instanceof ConfigError && e.path === 'cluster.name',
  );
  assert.throws(
    () => parseConfig({ cluster: { taskTimeoutSeconds: 0 } }, 'f.yaml'),
    (e: unknown) => e instanceof ConfigError && e.path === 'cluster.taskTimeoutSeconds',
  );
  assert.equal(parseConfig({ runtime: { workers: 0 }, cluster: { nats: 'nats://127.0.0.1:4222', hosts: 2 } }, 'f').runtime.workers, 0);
});

test('the config hash ignores the cluster section', () => {
  const a = parseConfig({ train: { epochs: 2 } }, 'a');
  const b = parseConfig({ train: { epochs: 2 }, cluster: { nats: 'nats://127.0.0.1:4222', hosts: 3, name: 'other' } }, 'b');
  assert.equal(configHash(a), configHash(b));
});

test('--workers 0 is accepted only with --nats; --hosts must be a count; host names and cluster names are plain', () => {
  assert.throws(() => checkTrain({ config: 'c.yaml', workers: 0 }), /--workers must be an integer from 1 to 256/);
  assert.equal(checkTrain({ config: 'c.yaml', workers: 0, nats: 'nats://127.0.0.1:4222' }), true);
  assert.throws(() => checkTrain({ config: 'c.yaml', nats: 'x', hosts: -1 }), /--hosts must be an integer/);
  assert.throws(() => checkHost({ nats: 'x', cluster: 'a b', 'metrics-host': '127.0.0.1' }), /--cluster/);
  assert.throws(() => checkHost({ nats: 'x', cluster: 'c', name: 'bad name', 'metrics-host': '127.0.0.1' }), /--name/);
  assert.throws(() => checkBench({ hosts: 2 }), /need --nats/);
});
