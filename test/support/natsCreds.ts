/**
 * NATS decentralised auth built at test time: an operator, an account and
 * its users as NKeys, their JWTs, the users' .creds files, and the lines of
 * nats-server config that trust them ("operator mode" with a memory
 * resolver). Nothing here is committed: every key is made fresh per run.
 *
 * The JWTs are encoded here (the format is small) rather than with the NATS
 * project's JS JWT package, which is still a 0.0.x pre-release. Format, as
 * the Go library github.com/nats-io/jwt (v2) writes it and nats-server 2.9
 * reads it: base64url (no padding) of the header
 * {"typ":"JWT","alg":"ed25519-nkey"}, a dot, base64url of the claims, a dot,
 * base64url of the issuer's Ed25519 signature over "header.claims". The
 * claims hold jti (base32 of the SHA-512/256 of the standard claims with an
 * empty jti), iat, iss (the signer's public key), name, sub (the subject's
 * public key) and `nats` with type operator, account or user and version 2.
 */
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createAccount, createOperator, createUser, type KeyPair } from '@nats-io/nkeys';

const b64url = (bytes: Uint8Array | string): string => Buffer.from(bytes).toString('base64url');

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
function base32(bytes: Uint8Array): string {
  let out = '';
  let bits = 0;
  let value = 0;
  for (const b of bytes) {
    value = (value << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += BASE32[(value << (5 - bits)) & 31];
  return out;
}

type NatsClaims = { type: 'operator' | 'account' | 'user' } & Record<string, unknown>;

/** A JWT for `subject`'s public key, named `name`, signed by `issuer`, with these `nats` claims. */
export function encodeJwt(issuer: KeyPair, subject: string, name: string, nats: NatsClaims): string {
  const header = b64url(JSON.stringify({ typ: 'JWT', alg: 'ed25519-nkey' }));
  const standard = { iat: Math.floor(Date.now() / 1000), iss: issuer.getPublicKey(), name, sub: subject };
  const jti = base32(createHash('sha512-256').update(JSON.stringify(standard)).digest());
  const claims = b64url(JSON.stringify({ jti, ...standard, nats: { ...nats, version: 2 } }));
  const signature = b64url(issuer.sign(new TextEncoder().encode(`${header}.${claims}`)));
  return `${header}.${claims}.${signature}`;
}

/** A .creds file's text: the user JWT and the user's seed, in the armour nsc writes and NATS clients read. */
export function credsText(userJwt: string, userSeed: Uint8Array): string {
  return [
    '-----BEGIN NATS USER JWT-----',
    userJwt,
    '------END NATS USER JWT------',
    '',
    '************************* IMPORTANT *************************',
    'NKEY Seed printed below can be used to sign and prove identity.',
    'NKEYs are sensitive and should be treated as secrets.',
    '',
    '-----BEGIN USER NKEY SEED-----',
    new TextDecoder().decode(userSeed),
    '------END USER NKEY SEED------',
    '',
    '*************************************************************',
    '',
  ].join('\n');
}

/** No limit (-1) on anything an account or user may do, as nsc sets by default. */
const ACCOUNT_LIMITS = { subs: -1, data: -1, payload: -1, imports: -1, exports: -1, wildcards: true, conn: -1, leaf: -1 };
const USER_LIMITS = { pub: {}, sub: {}, subs: -1, data: -1, payload: -1 };

export interface NatsTrust {
  /** nats-server config lines: the operator JWT, a memory resolver, and the account JWT preloaded. */
  readonly serverConfig: string;
  /** Write a .creds file for a new user of the account, at `dir/name.creds`; returns its path. */
  userCreds(dir: string, name: string): string;
  /** The account's key pair, to sign users a server trusting this operator must refuse (mismatched seeds etc.). */
  readonly account: KeyPair;
}

/** A fresh operator with one account, as a nats-server in operator mode is configured to trust it. */
export function natsTrust(operatorName = 'pixelsense-test'): NatsTrust {
  const operator = createOperator();
  const account = createAccount();
  const operatorJwt = encodeJwt(operator, operator.getPublicKey(), operatorName, { type: 'operator' });
  const accountJwt = encodeJwt(operator, account.getPublicKey(), 'training', { type: 'account', limits: ACCOUNT_LIMITS });
  return {
    serverConfig: [`operator: ${operatorJwt}`, 'resolver: MEMORY', `resolver_preload: { ${account.getPublicKey()}: ${accountJwt} }`].join(
      '\n',
    ),
    account,
    userCreds(dir, name) {
      const user = createUser();
      const jwt = encodeJwt(account, user.getPublicKey(), name, { type: 'user', ...USER_LIMITS });
      const file = join(dir, `${name}.creds`);
      writeFileSync(file, credsText(jwt, user.getSeed()), { mode: 0o600 });
      return file;
    },
  };
}

/** A user JWT from `trust`'s account paired with the seed of another user: the server's nonce check must fail. */
export function mismatchedCreds(trust: NatsTrust, dir: string, name: string): string {
  const claimed = createUser();
  const jwt = encodeJwt(trust.account, claimed.getPublicKey(), name, { type: 'user', ...USER_LIMITS });
  const file = join(dir, `${name}.creds`);
  writeFileSync(file, credsText(jwt, createUser().getSeed()), { mode: 0o600 });
  return file;
}
