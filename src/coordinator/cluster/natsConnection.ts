/**
 * Connecting to NATS, with its own authentication: `nats://TOKEN@host:port`
 * (a user part without a password is a token, as in the nats CLI),
 * `nats://USER:PASS@host:port`, or a .creds file (--nats-creds). The URL's
 * secrets are taken out before the URL is logged or passed on, so logs
 * never show them.
 */
import { readFileSync } from 'node:fs';
import { connect, credsAuthenticator, type NatsConnection, type ConnectionOptions } from '@nats-io/transport-node';
import type { Config } from '../../shared/config.js';
import { ClusterAccessError } from '../../shared/errors.js';

export interface NatsTarget {
  /** The server URLs with any user/password/token removed (safe to log). */
  readonly servers: string[];
  readonly token?: string;
  readonly user?: string;
  readonly pass?: string;
  readonly credsFile?: string;
}

/** Parse `--nats` (comma-separated URLs; host:port alone means nats://host:port). */
export function parseNatsUrl(url: string, credsFile?: string | null): NatsTarget {
  const servers: string[] = [];
  let token: string | undefined;
  let user: string | undefined;
  let pass: string | undefined;
  for (const part of url
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    let u: URL;
    try {
      u = new URL(part.includes('://') ? part : `nats://${part}`);
    } catch {
      throw new ClusterAccessError(`--nats: '${redact(part)}' is not a URL like nats://host:4222`);
    }
    if (u.username && u.password) {
      user = decodeURIComponent(u.username);
      pass = decodeURIComponent(u.password);
    } else if (u.username) {
      token = decodeURIComponent(u.username);
    }
    servers.push(`${u.protocol}//${u.host}`);
  }
  if (servers.length === 0) throw new ClusterAccessError('--nats: no server URL given');
  return { servers, ...(token ? { token } : {}), ...(user ? { user, pass } : {}), ...(credsFile ? { credsFile } : {}) };
}

function redact(s: string): string {
  return s.replace(/\/\/[^@/]*@/, '//***@');
}

/** Text with every `scheme://user[:pass]@` reduced to `scheme://`: argv and URLs as they may be logged or saved. */
export function withoutUrlSecrets(s: string): string {
  return s.replace(/(\w+:\/\/)[^@/\s,]*@/g, '$1');
}

/**
 * The config as it is logged and saved in the run directory: no NATS token
 * or password (a --resume must be given --nats with them again).
 */
export function withoutNatsSecrets(cfg: Config): Config {
  return cfg.cluster.nats === null ? cfg : { ...cfg, cluster: { ...cfg.cluster, nats: withoutUrlSecrets(cfg.cluster.nats) } };
}

/** Connect, or throw ClusterAccessError naming the server and what went wrong (bad credentials, nothing listening). */
export async function connectNats(target: NatsTarget, name: string): Promise<NatsConnection> {
  const opts: ConnectionOptions = {
    servers: target.servers,
    name,
    // Keep reconnecting through a server restart; a dead peer is detected by
    // heartbeats and task timeouts, not by the connection.
    maxReconnectAttempts: -1,
    reconnectTimeWait: 500,
    timeout: 5000,
  };
  if (target.token) opts.token = target.token;
  if (target.user) {
    opts.user = target.user;
    opts.pass = target.pass ?? '';
  }
  if (target.credsFile) {
    let creds: Uint8Array;
    try {
      creds = readFileSync(target.credsFile);
    } catch (err) {
      throw new ClusterAccessError(`--nats-creds ${target.credsFile}: cannot read (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
    }
    opts.authenticator = credsAuthenticator(creds);
  }
  try {
    return await connect(opts);
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    // The server says only "Authorization Violation"; naming the .creds file tells which credential it refused.
    const as = target.credsFile ? ` with the .creds file ${target.credsFile}` : '';
    throw new ClusterAccessError(`cannot connect to NATS at ${target.servers.join(',')}${as}: ${why}`, { cause: err });
  }
}

/**
 * Drain (deliver what is queued) but give up after `ms`: with the server
 * gone the client would wait for a reconnect forever, and a host or
 * coordinator must still exit on SIGTERM.
 */
export async function closeNats(nc: NatsConnection, ms = 2000): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)));
  await Promise.race([nc.drain().catch(() => undefined), late]);
  clearTimeout(timer);
  if (!nc.isClosed()) await nc.close().catch(() => undefined);
}

/** The server's max_payload (1 MiB by default): frames larger than this are chunked. */
export function maxPayloadOf(nc: NatsConnection): number {
  return nc.info?.max_payload ?? 1024 * 1024;
}
