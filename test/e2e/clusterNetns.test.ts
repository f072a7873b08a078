/**
 * Multi-host training on a slow network: nats-server, two hosts and a
 * coordinator inside a private network namespace (`unshare -rn`), whose own
 * loopback gets `tc netem` latency (0.25 ms each way) and a 10 Gbit/s rate
 * limit. Where the kernel has no netem (sch_netem missing), a `tbf` rate
 * limit alone shapes the link and the test says so. Nothing leaves the
 * namespace: its only interface is its own `lo`.
 *
 * Skipped, with the reason printed, where unprivileged network namespaces
 * are not allowed or nats-server is missing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLI, runCli, sha256 } from '../support/cli.js';
import { natsServerBin, startProc, tempDir, writeTinyClusterConfig } from '../support/cluster.js';

function whySkip(): string | false {
  const nats = natsServerBin();
  if (!nats) return 'nats-server is not installed (scripts/ensure-nats.sh installs it)';
  const probe = spawnSync('unshare', ['-rn', 'sh', '-c', 'ip link set lo up && command -v tc >/dev/null'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0)
    return `no private network namespace here (unshare -rn, ip, tc): ${(probe.error?.message ?? probe.stderr ?? '').trim() || `exit ${probe.status}`}`;
  return false;
}

const skip = whySkip();
if (skip) process.stdout.write(`# skipping the network-namespace test: ${skip}\n`);

// Inside the namespace: shape lo, start nats-server, two hosts and the coordinator; the coordinator's exit code is the script's.
const SCRIPT = `
set -u
ip link set lo up
if tc qdisc add dev lo root netem delay 0.25ms rate 10gbit 2>/dev/null; then echo "SHAPING netem delay 0.25ms rate 10gbit"
else tc qdisc add dev lo root tbf rate 10gbit burst 4mb latency 10ms && echo "SHAPING tbf rate 10gbit (no netem in this kernel: no added latency)"; fi
"$NATS_BIN" -a 127.0.0.1 -p 4222 --auth "$TOKEN" > "$WORK/nats.log" 2>&1 & nats=$!
for i in $(seq 100); do grep -q 'Server is ready' "$WORK/nats.log" && break; sleep 0.1; done
URL="nats://$TOKEN@127.0.0.1:4222"
node "$CLI" host --nats "$URL" --name n1 --workers 1 > "$WORK/n1.log" 2>&1 & h1=$!
node "$CLI" host --nats "$URL" --name n2 --workers 1 > "$WORK/n2.log" 2>&1 & h2=$!
node "$CLI" train "$CONFIG" --nats "$URL" --workers 0 --hosts 2 --out "$WORK/run" --json; code=$?
kill $h1 $h2; wait $h1 $h2; kill $nats; wait $nats
exit $code
`;

test('inside a network namespace with a shaped loopback (netem latency and rate, or a tbf rate limit where the kernel lacks netem), two hosts still give the weights of one local worker', {
  skip,
}, async () => {
  const work = tempDir('pixelsense-netns-');
  const config = writeTinyClusterConfig(work, { joinTimeoutSeconds: 60 });
  const local = await runCli(['train', config, '--workers', '1', '--out', join(work, 'local')]);
  assert.equal(local.code, 0, local.stderr);
  const p = startProc('unshare', ['-rn', 'bash', '-c', SCRIPT], {
    NATS_BIN: natsServerBin() as string,
    TOKEN: 'netns-token',
    WORK: work,
    CLI,
    CONFIG: config,
  });
  const shaping = await p.waitFor(/^SHAPING /);
  process.stdout.write(`${shaping}\n`);
  const { code } = await p.exited;
  assert.equal(code, 0, p.output());
  const summary = JSON.parse(p.output().trim().split('\n').pop() as string) as { hosts: number; examples_per_sec: number };
  assert.equal(summary.hosts, 2);
  process.stdout.write(`${summary.examples_per_sec} examples/s through the shaped loopback\n`);
  const w = (d: string) => sha256(readFileSync(join(d, 'model', 'weights.bin')));
  assert.equal(w(join(work, 'run')), w(join(work, 'local')));
});
