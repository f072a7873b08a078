/**
 * End-to-end multi-host training: a real nats-server (token auth, loopback,
 * a free port), `pixelsense host` processes and a coordinator, all spawned
 * from dist/. Every run uses one tiny CNN config (512 examples, 4 steps of 4
 * micro-batches), and every run's weights must have the SHA-256 of the same
 * config trained by one local worker.
 *
 * Synchronised on what the processes print (host ready, "stalling step",
 * "host X joined/lost"), never on sleeps.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { connect } from '@nats-io/transport-node';
import {
  DATA_DIR,
  events,
  localReference,
  NATS_SKIP as skip,
  Procs,
  startHost,
  startNats,
  startTrain,
  tempDir,
  writeTinyClusterConfig,
  type NatsServer,
  type Proc,
} from '../support/cluster.js';
import { weightsDigest } from '../support/files.js';

const work = tempDir('pixelsense-cluster-');
const config = writeTinyClusterConfig(work, { joinTimeoutSeconds: 20, taskTimeoutSeconds: 3 });

let reference = '';
let nats: NatsServer;
const procs = new Procs();
const out = (name: string) => join(work, name);

before(async () => {
  if (skip) return;
  reference = await localReference(config, out('local'));
  // 8 KiB max_payload: the tiny model's 15 KiB of weights and gradients travel in chunks.
  nats = await startNats({ maxPayload: 8192 });
});

after(async () => {
  await procs.killAll();
  await nats?.stop();
});

/** Each test has its own cluster (subject prefix), so no test's hosts can serve another's run. */
const cluster = (name: string) => ['--cluster', name];

/** Stop the hosts a test started, however the test ended. */
async function stopAll(hosts: Proc[]): Promise<void> {
  for (const h of hosts) h.kill('SIGTERM');
  await Promise.all(hosts.map((h) => h.exited));
}

async function train(name: string, args: string[], file = config): Promise<{ code: number | null; proc: Proc; dir: string }> {
  const proc = procs.track(startTrain([file, '--nats', nats.authUrl, '--out', out(name), '--json', ...args]));
  const { code } = await proc.exited;
  return { code, proc, dir: out(name) };
}

test('two hosts and no local workers give the weights of one local worker, chunked under an 8 KiB max_payload', { skip }, async (t) => {
  const hosts = [
    procs.track(await startHost(nats.authUrl, 'a1', cluster('same'))),
    procs.track(await startHost(nats.authUrl, 'a2', cluster('same'))),
  ];
  t.after(() => stopAll(hosts));
  const r = await train('remote', ['--workers', '0', '--hosts', '2', ...cluster('same')]);
  assert.equal(r.code, 0, r.proc.output());
  assert.equal(weightsDigest(r.dir), reference);
  const summary = JSON.parse(r.proc.output().trim().split('\n').pop() as string) as { hosts: number; workers: number };
  assert.equal(summary.hosts, 2);
  assert.equal(summary.workers, 0);
  const steps = events(r.dir).filter((e) => e['event'] === 'step');
  assert.ok(
    steps.every((e) => (e['hosts'] as string[]).every((h) => h === 'a1' || h === 'a2')),
    'every micro-batch computed remotely',
  );
  // Hosts stay up between runs: a second run is served by the same processes.
  const again = await train('remote-again', ['--workers', '1', '--hosts', '2', ...cluster('same')]);
  assert.equal(again.code, 0, again.proc.output());
  assert.equal(weightsDigest(again.dir), reference);
  for (const h of hosts) {
    h.kill('SIGTERM');
    assert.equal((await h.exited).code, 0, h.output());
  }
  assert.match(hosts[0]?.output() ?? '', /run \w+: run ended; closing its pool/);
});

test('a host killed with SIGKILL mid-step loses nothing: its micro-batches are recomputed and the weights are unchanged', {
  skip,
}, async (t) => {
  const steady = procs.track(await startHost(nats.authUrl, 'k1', cluster('kill')));
  const doomed = procs.track(await startHost(nats.authUrl, 'k2', cluster('kill'), { PIXELSENSE_HOST_FAULT: 'stall@2' }));
  t.after(() => stopAll([steady, doomed]));
  const proc = procs.track(
    startTrain([config, '--nats', nats.authUrl, '--out', out('killed'), '--workers', '0', '--hosts', '2', '--json', ...cluster('kill')]),
  );
  await doomed.waitFor(/stalling step 2/);
  doomed.kill('SIGKILL');
  await proc.waitFor(/host k2 lost/);
  const { code } = await proc.exited;
  assert.equal(code, 0, proc.output());
  assert.equal(weightsDigest(out('killed')), reference);
  const lost = events(out('killed')).find((e) => e['event'] === 'host_lost');
  assert.equal(lost?.['host'], 'k2');
  assert.equal(lost?.['step'], 3);
  assert.ok((lost?.['requeued'] as number) >= 1);
});

test('a host that joins mid-run gets work from the next step and the weights are unchanged', { skip }, async (t) => {
  // j1 holds step 2's micro-batches until j2 has joined, so j2 certainly joins mid-run.
  const gate = join(work, 'j2-joined');
  const first = procs.track(await startHost(nats.authUrl, 'j1', cluster('join'), { PIXELSENSE_HOST_FAULT: `hold@1=${gate}` }));
  t.after(() => stopAll([first]));
  const patient = join(work, 'patient.yaml');
  writeFileSync(patient, readFileSync(config, 'utf8').replace('taskTimeoutSeconds: 3', 'taskTimeoutSeconds: 300'));
  const proc = procs.track(
    startTrain([patient, '--nats', nats.authUrl, '--out', out('joined'), '--workers', '0', '--hosts', '1', '--json', ...cluster('join')]),
  );
  await first.waitFor(/holding step 1/);
  const late = procs.track(await startHost(nats.authUrl, 'j2', cluster('join')));
  t.after(() => stopAll([late]));
  await proc.waitFor(/host j2 joined/);
  writeFileSync(gate, '');
  const { code } = await proc.exited;
  assert.equal(code, 0, proc.output());
  assert.equal(weightsDigest(out('joined')), reference);
  const log = events(out('joined'));
  const joined = log.find((e) => e['event'] === 'host_joined' && e['host'] === 'j2');
  assert.ok(joined && (joined['step'] as number) > 1, `j2 joined at step ${String(joined?.['step'])}`);
  assert.ok(
    log.some((e) => e['event'] === 'step' && (e['hosts'] as string[]).includes('j2')),
    'j2 computed micro-batches',
  );
  // j2 was admitted after that step's weights went out to the run's subject: it got them on its own subject, so it
  // computed the micro-batches j1 had not taken yet in that very step, and never answered "no weights".
  const sameStep = log.find((e) => e['event'] === 'step' && e['step'] === joined['step']);
  assert.ok((sameStep?.['hosts'] as string[] | undefined)?.includes('j2'), `step ${String(joined['step'])}: ${JSON.stringify(sameStep)}`);
  assert.deepEqual(
    log.filter((e) => e['event'] === 'host_task_failed'),
    [],
  );
});

test('a host without the token cannot join: it exits 2 with one line', { skip }, async () => {
  const { startProc } = await import('../support/cluster.js');
  const { CLI } = await import('../support/cli.js');
  const p = procs.track(startProc(process.execPath, [CLI, 'host', '--nats', nats.url, '--name', 'intruder', '--workers', '1']));
  const { code } = await p.exited;
  assert.equal(code, 2, p.output());
  const errLines = p
    .output()
    .split('\n')
    .filter((l) => l.startsWith('pixelsense:'));
  assert.equal(errLines.length, 1);
  assert.match(errLines[0] as string, /cannot connect to NATS at nats:\/\/127\.0\.0\.1:\d+: .*[Aa]uthorization/);
});

test('a host whose data differs is refused: it exits 2 with one line and the coordinator logs why', { skip }, async (t) => {
  const bad = join(work, 'bad-data');
  mkdirSync(bad, { recursive: true });
  for (const f of ['t10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz', 'train-labels-idx1-ubyte.gz'])
    copyFileSync(join(DATA_DIR, f), join(bad, f));
  const images = gunzipSync(readFileSync(join(DATA_DIR, 'train-images-idx3-ubyte.gz')));
  images[16 + 100] = (images[16 + 100] as number) ^ 0xff; // one pixel of the first image
  writeFileSync(join(bad, 'train-images-idx3-ubyte.gz'), gzipSync(images, { level: 1 }));
  const host = procs.track(await startHost(nats.authUrl, 'other-data', ['--data-dir', bad, ...cluster('refuse')]));
  t.after(() => stopAll([host]));
  // The coordinator then has no host: it gives up after a short join timeout.
  const shortWait = join(work, 'short-wait.yaml');
  writeFileSync(shortWait, readFileSync(config, 'utf8').replace('joinTimeoutSeconds: 20', 'joinTimeoutSeconds: 5'));
  const r = await train('refused', ['--workers', '0', '--hosts', '1', ...cluster('refuse')], shortWait);
  const { code } = await host.exited;
  assert.equal(code, 2, host.output());
  const errLines = host
    .output()
    .split('\n')
    .filter((l) => l.startsWith('pixelsense:'));
  assert.equal(errLines.length, 1);
  assert.match(errLines[0] as string, /refused by the coordinator .*data set content differs/);
  assert.equal(r.code, 1, r.proc.output());
  assert.match(r.proc.output(), /only 0 of 1 hosts joined cluster 'refuse' within 5 s/);
  const refused = events(r.dir).find((e) => e['event'] === 'host_refused');
  assert.match(String(refused?.['reason']), /data set content differs/);
});

test('malformed messages are counted and logged, their micro-batches recomputed, and the weights are unchanged', { skip }, async (t) => {
  const liar = procs.track(await startHost(nats.authUrl, 'm1', cluster('bad'), { PIXELSENSE_HOST_FAULT: 'corrupt@1' }));
  const honest = procs.track(await startHost(nats.authUrl, 'm2', cluster('bad')));
  t.after(() => stopAll([liar, honest]));
  const proc = procs.track(
    startTrain([config, '--nats', nats.authUrl, '--out', out('malformed'), '--workers', '0', '--hosts', '2', '--json', ...cluster('bad')]),
  );
  await proc.waitFor(/host m\d joined/);
  // Garbage from an authenticated client on the coordinator's subjects.
  const runId = (JSON.parse(readFileSync(join(out('malformed'), 'run.json'), 'utf8')) as { run_id: string }).run_id;
  const nc = await connect({ servers: nats.url, token: nats.token });
  for (const bytes of [
    new Uint8Array([1, 2, 3]),
    new Uint8Array(5000).fill(0xff),
    new TextEncoder().encode('\u0010\u0000\u0000\u0000{"kind":"result"}'),
  ]) {
    nc.publish('bad.heartbeat', bytes);
    nc.publish(`bad.run.${runId}.result.intruder`, bytes);
  }
  await nc.flush();
  await nc.close();
  const { code } = await proc.exited;
  assert.equal(code, 0, proc.output());
  assert.equal(weightsDigest(out('malformed')), reference);
  const bad = events(out('malformed')).filter((e) => e['event'] === 'bad_message');
  assert.ok(
    bad.some((e) => e['host'] === 'm1'),
    JSON.stringify(bad),
  );
  assert.ok(
    bad.some((e) => e['host'] === 'unknown'),
    JSON.stringify(bad),
  );
});

test('when the last host is gone and none joins within the join timeout, the run checkpoints and exits 1 with the resume command', {
  skip,
}, async (t) => {
  const only = procs.track(await startHost(nats.authUrl, 'last', cluster('last'), { PIXELSENSE_HOST_FAULT: 'stall@2' }));
  t.after(() => stopAll([only]));
  const shortWait = join(work, 'short-wait-last.yaml');
  writeFileSync(shortWait, readFileSync(config, 'utf8').replace('joinTimeoutSeconds: 20', 'joinTimeoutSeconds: 3'));
  const proc = procs.track(
    startTrain([shortWait, '--nats', nats.authUrl, '--out', out('last'), '--workers', '0', '--hosts', '1', ...cluster('last')]),
  );
  await only.waitFor(/stalling step 2/);
  only.kill('SIGKILL');
  const { code } = await proc.exited;
  assert.equal(code, 1, proc.output());
  assert.match(proc.output(), /no host left to compute step 3: waiting up to 3 s/);
  assert.match(proc.output(), new RegExp(`resume with: pixelsense train --resume ${out('last').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
  const log = events(out('last'));
  assert.ok(log.some((e) => e['event'] === 'host_lost' && e['host'] === 'last'));
  assert.ok(
    log.some((e) => e['event'] === 'checkpoint' && e['step'] === 2),
    'the last completed step is checkpointed',
  );
});

test('a host of another PixelSense version is refused with one line', { skip }, async (t) => {
  const host = procs.track(await startHost(nats.authUrl, 'future', cluster('version'), { PIXELSENSE_VERSION_OVERRIDE: '99.0.0' }));
  t.after(() => stopAll([host]));
  const shortWait = join(work, 'short-wait-version.yaml');
  writeFileSync(shortWait, readFileSync(config, 'utf8').replace('joinTimeoutSeconds: 20', 'joinTimeoutSeconds: 3'));
  const r = await train('version', ['--workers', '1', '--hosts', '1', ...cluster('version')], shortWait);
  const { code } = await host.exited;
  assert.equal(code, 2, host.output());
  assert.match(
    host
      .output()
      .split('\n')
      .filter((l) => l.startsWith('pixelsense:'))
      .join('\n'),
    /^pixelsense: host future: refused by the coordinator .*PixelSense version 99\.0\.0 .* differs/,
  );
  assert.equal(r.code, 1);
});

test('user and password in the NATS URL authenticate hosts and coordinator, and the password is not saved in the run directory', {
  skip,
}, async (t) => {
  const server = await startNats({ user: { name: 'ann', password: 'p@ss:word' } });
  const host = procs.track(await startHost(server.authUrl, 'u1'));
  t.after(async () => {
    await stopAll([host]);
    await server.stop();
  });
  const proc = procs.track(
    startTrain([config, '--nats', server.authUrl, '--out', out('userpass'), '--workers', '0', '--hosts', '1', '--json']),
  );
  const { code } = await proc.exited;
  assert.equal(code, 0, proc.output());
  assert.equal(weightsDigest(out('userpass')), reference);
  for (const f of ['config.yaml', 'run.json', 'log.jsonl'])
    assert.ok(!readFileSync(join(out('userpass'), f), 'utf8').includes('word'), `${f} holds no password`);
  assert.ok(!proc.output().includes('p%40ss'), 'no password in the output');
});
