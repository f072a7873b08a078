/**
 * End-to-end NATS authentication by .creds file (JWT + NKey seed): a real
 * nats-server in operator mode (an operator, an account and its users made
 * with fresh NKeys at run time, test/support/natsCreds.ts; nothing secret is
 * committed), `pixelsense host` processes and a coordinator spawned from
 * dist/. The run trains the tiny CNN config of the other multi-host tests and
 * its weights must have the SHA-256 of the same config on one local worker.
 *
 * Synchronised on what the processes print and on their exit, never on sleeps.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLI } from '../support/cli.js';
import {
  events,
  localReference,
  NATS_SKIP as skip,
  Procs,
  startHost,
  startNats,
  startProc,
  startTrain,
  tempDir,
  writeTinyClusterConfig,
  type NatsServer,
  type Proc,
} from '../support/cluster.js';
import { weightsDigest } from '../support/files.js';
import { mismatchedCreds, natsTrust } from '../support/natsCreds.js';

const work = tempDir('pixelsense-creds-');
const config = writeTinyClusterConfig(work, { joinTimeoutSeconds: 20, taskTimeoutSeconds: 3 });

const trust = natsTrust();
let reference = '';
let nats: NatsServer;
const procs = new Procs();

before(async () => {
  if (skip) return;
  reference = await localReference(config, join(work, 'local'));
  nats = await startNats({ trust });
});

after(async () => {
  await procs.killAll();
  await nats?.stop();
});

/** `pixelsense host --nats-creds FILE`, expected to be refused: it is not waited on to become ready. */
function startRefusedHost(name: string, creds: string): Proc {
  return procs.track(
    startProc(process.execPath, [CLI, 'host', '--nats', nats.url, '--nats-creds', creds, '--name', name, '--workers', '1']),
  );
}

/** The host exited 2 having printed exactly one error line, no stack, naming the server, the .creds file and the refusal. */
async function assertRefused(host: Proc, creds: string): Promise<void> {
  const { code } = await host.exited;
  assert.equal(code, 2, host.output());
  const errLines = host
    .output()
    .split('\n')
    .filter((l) => l.startsWith('pixelsense:'));
  assert.deepEqual(errLines, [`pixelsense: cannot connect to NATS at ${nats.url} with the .creds file ${creds}: Authorization Violation`]);
  assert.doesNotMatch(host.output(), /^\s+at /m, 'no stack trace');
}

// Timeouts turn a hang (a host that is let in, a server that never answers) into a failure.
test('a host with --nats-creds and a coordinator with cluster.credsFile train together and give the weights of one local worker', {
  skip,
  timeout: 120_000,
}, async (t) => {
  const host = procs.track(await startHost(nats.url, 'c1', ['--nats-creds', trust.userCreds(work, 'host')]));
  t.after(async () => {
    host.kill('SIGTERM');
    await host.exited;
  });
  // The URL carries no secret: the coordinator's only credential is the .creds file named in its config.
  const withCreds = join(work, 'creds.yaml');
  writeFileSync(
    withCreds,
    readFileSync(config, 'utf8').replace('cluster: { ', `cluster: { credsFile: ${JSON.stringify(trust.userCreds(work, 'coordinator'))}, `),
  );
  const out = join(work, 'remote');
  const proc = procs.track(startTrain([withCreds, '--nats', nats.url, '--out', out, '--workers', '0', '--hosts', '1', '--json']));
  const { code } = await proc.exited;
  assert.equal(code, 0, proc.output());
  assert.equal(weightsDigest(out), reference);
  const steps = events(out).filter((e) => e['event'] === 'step');
  assert.ok(steps.length > 0, 'the run logged its steps');
  assert.ok(
    steps.every((e) => (e['hosts'] as string[]).every((h) => h === 'c1')),
    'every micro-batch computed by the host',
  );
});

test('a host whose .creds file was issued under another operator is refused: it exits 2 with one line', {
  skip,
  timeout: 60_000,
}, async () => {
  const creds = natsTrust('stranger').userCreds(work, 'stranger');
  await assertRefused(startRefusedHost('stranger', creds), creds);
});

test('a host whose .creds seed is not the key of its user JWT is refused: it exits 2 with one line', {
  skip,
  timeout: 60_000,
}, async () => {
  const creds = mismatchedCreds(trust, work, 'impostor');
  await assertRefused(startRefusedHost('impostor', creds), creds);
});
