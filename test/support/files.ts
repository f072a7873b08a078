/**
 * Files that tests write and read: config files, a malicious PNG, and what a
 * finished run leaves in its directory (the exported weights, log.jsonl).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import sharp from 'sharp';
import { sha256 } from './cli.js';

let written = 0;

/** Write `text` to `dir/name` (default: a fresh config-N.yaml) and return the path. */
export function yamlFile(dir: string, text: string, name = `config-${++written}.yaml`): string {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

/** A valid 1x1 PNG whose header claims 20000x20000: a decompression bomb's signature, in 70 bytes. */
export async function hugeHeaderPng(file: string): Promise<string> {
  const png = await sharp({ create: { width: 1, height: 1, channels: 3, background: '#000' } })
    .png()
    .toBuffer();
  png.writeUInt32BE(20000, 16);
  png.writeUInt32BE(20000, 20);
  png.writeUInt32BE(crc32(png.subarray(12, 29)), 29); // IHDR CRC covers type + data
  writeFileSync(file, png);
  return file;
}

/** SHA-256 of a run's exported weights (model/weights.bin): equal digests, bitwise-equal weights. */
export const weightsDigest = (runDir: string): string => sha256(readFileSync(join(runDir, 'model', 'weights.bin')));

export type LogEvent = Record<string, unknown> & { event: string; step?: number };

/** A run's log.jsonl, one object per line; empty when the run wrote no log. */
export function readLog(runDir: string): LogEvent[] {
  const file = join(runDir, 'log.jsonl');
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as LogEvent);
}
