/**
 * Downloads against hostile servers on 127.0.0.1: a body that never ends is
 * cut at the file's size, a trickle that is never idle hits the overall
 * timeout, an oversized Content-Length is refused at once, and Ctrl-C during
 * a download (a real SIGINT to the real CLI) leaves no .part file.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { downloadFile } from '../src/coordinator/data/dataDownload.js';
import { DataError } from '../src/shared/errors.js';
import { CLI } from './support/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'pixelsense-downloads-'));
const servers: Server[] = [];
after(async () => {
  for (const s of servers) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
  rmSync(dir, { recursive: true, force: true });
});

/** A server whose every response is produced by `respond`; `requests` counts arrivals. */
async function serve(respond: (res: ServerResponse) => void): Promise<{ url: string; firstByteSent: Promise<void> }> {
  let sent!: () => void;
  const firstByteSent = new Promise<void>((r) => (sent = r));
  const srv = createServer((_req, res) => {
    respond(res);
    sent();
  });
  servers.push(srv);
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(srv.address() as AddressInfo).port}/`, firstByteSent };
}

/** Writes 16 KiB chunks as fast as the socket takes them, forever. */
const endless = (res: ServerResponse) => {
  res.writeHead(200);
  const chunk = Buffer.alloc(16 * 1024, 1);
  const pump = () => {
    while (!res.destroyed && res.write(chunk));
    if (!res.destroyed) res.once('drain', pump);
  };
  pump();
};

/** One byte every 20 ms: never idle, never done. */
const trickle = (res: ServerResponse) => {
  res.writeHead(200);
  const t = setInterval(() => (res.destroyed ? clearInterval(t) : res.write('x')), 20);
  res.on('close', () => clearInterval(t));
};

const noPartFiles = (d: string) =>
  assert.deepEqual(existsSync(d) ? readdirSync(d).filter((f) => f.endsWith('.part')) : [], [], 'no .part file left');

test('a body that never ends is cut at the expected size and leaves no partial file', async () => {
  const s = await serve(endless);
  const out = mkdtempSync(join(dir, 'endless-'));
  await assert.rejects(
    downloadFile(`${s.url}x.gz`, join(out, 'x.gz'), '0'.repeat(32), { maxBytes: 100_000, idleTimeoutMs: 5_000, totalTimeoutMs: 60_000 }),
    (e: unknown) => e instanceof DataError && /more than 100000 bytes, the size this file has/.test(e.message),
  );
  noPartFiles(out);
});

test('a trickle that is never idle hits the overall timeout and leaves no partial file', async () => {
  const s = await serve(trickle);
  const out = mkdtempSync(join(dir, 'trickle-'));
  await assert.rejects(
    downloadFile(`${s.url}x.gz`, join(out, 'x.gz'), '0'.repeat(32), { maxBytes: 100_000, idleTimeoutMs: 5_000, totalTimeoutMs: 500 }),
    (e: unknown) => e instanceof DataError && /did not finish within 500 ms/.test(e.message),
  );
  noPartFiles(out);
});

test('a Content-Length above the expected size is refused before the body is read', async () => {
  const s = await serve((res) => {
    res.writeHead(200, { 'content-length': 10_000_000 });
    res.write('x');
  });
  const out = mkdtempSync(join(dir, 'length-'));
  await assert.rejects(
    downloadFile(`${s.url}x.gz`, join(out, 'x.gz'), '0'.repeat(32), { maxBytes: 5_148 }),
    (e: unknown) => e instanceof DataError && /announces 10000000 bytes, more than the 5148/.test(e.message),
  );
  noPartFiles(out);
});

test('Ctrl-C (SIGINT) during `pixelsense data download` removes the .part file', { timeout: 60_000 }, async () => {
  const s = await serve(trickle);
  const cache = mkdtempSync(join(dir, 'sigint-'));
  const official = join(cache, 'fashion-mnist', 'official');
  const env: NodeJS.ProcessEnv = { ...process.env, FASHION_MNIST_URL: s.url, PIXELSENSE_CACHE: cache };
  delete env['PIXELSENSE_FAULT'];
  const child = spawn(process.execPath, [CLI, 'data', 'download', '--force'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  const closed = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
    child.on('close', (code, signal) => r({ code, signal })),
  );
  await s.firstByteSent;
  // The server has sent a byte, so the client has its response; wait for the temp file it streams into.
  while (!(existsSync(official) && readdirSync(official).some((f) => f.endsWith('.part')))) await new Promise((r) => setTimeout(r, 20));
  child.kill('SIGINT');
  const end = await closed;
  assert.ok(end.signal === 'SIGINT' || end.code === 130, JSON.stringify(end));
  noPartFiles(official);
});
