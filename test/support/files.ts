/**
 * Files that tests write and read: config files, a malicious PNG, and what a
 * finished run leaves in its directory (the exported weights, log.jsonl).
 */
import { readFileSync, writeFileSync } from 'node:fs';
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

/** Reading a run's log.jsonl lives with waiting on it (runLog.ts); re-exported for the tests that read finished runs. */
export { type LogEvent, readLog } from './runLog.js';
