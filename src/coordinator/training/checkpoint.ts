/**
 * Checkpoints: everything needed to continue a run bit for bit, in msgpackr.
 *
 * The data order and every random draw derive from (seed, epoch, step), so
 * the step number is the whole RNG state and position in the data order.
 * Files are written atomically (temp file, fsync, rename, fsync of the
 * directory) and the newest `keep` are kept. A truncated or corrupt file, or
 * one written under another config, is refused with a CheckpointError —
 * never replaced by a fresh start.
 *
 * On disk (format 2): msgpack { format: 2, sha256, body } where body is the
 * msgpack-encoded checkpoint and sha256 its hex digest, so a flipped byte
 * anywhere in the weights is caught, not only a cut that breaks msgpack.
 * Format 1 files (no digest, the fields at the top level) are still read.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { pack, unpack } from 'msgpackr';
import { CheckpointError } from '../../shared/errors.js';
import { processAlive, writeFileAtomic } from '../../shared/atomicFile.js';
import type { OptimizerState } from './optimizer.js';
import { checkpointSchema, describeCheckpointIssue } from './checkpointSchema.js';

export const CHECKPOINT_FORMAT = 2;

export interface Checkpoint {
  readonly format: number;
  readonly configHash: string;
  /** Optimizer steps completed. */
  readonly step: number;
  /** Position in the data order, for humans: epoch and step within it. */
  readonly epoch: number;
  readonly stepInEpoch: number;
  readonly seed: number;
  /** Flat weights: params then batch-norm state. */
  readonly weights: Float32Array;
  readonly optimizer: OptimizerState;
  /** Epoch history so far and other run bookkeeping, carried into metrics.json. */
  readonly history: unknown[];
  readonly elapsedSeconds: number;
  readonly timeToTarget: number | null;
  /** SHA-256 of the data set's content (data/datasetHash.ts); undefined in checkpoints of older versions. */
  readonly dataHash?: string;
  /** The backend the run resolved to; undefined in checkpoints of older versions. */
  readonly backend?: string;
}

const NAME = /^ckpt-(\d{9})\.msgpack$/;
/** writeFileAtomic's temp names (atomicFile.tempSibling), and the older `.tmp-PID` form. */
const TEMP = /^ckpt-\d{9}\.msgpack\.tmp-(\d+)(?:-[0-9a-f]{8})?$/;

export function checkpointDir(runDir: string): string {
  return join(runDir, 'checkpoints');
}

export function saveCheckpoint(runDir: string, ckpt: Omit<Checkpoint, 'format'>, keep: number): string {
  const dir = checkpointDir(runDir);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `ckpt-${String(ckpt.step).padStart(9, '0')}.msgpack`);
  const body = pack({
    ...ckpt,
    format: CHECKPOINT_FORMAT,
    weights: asBytes(ckpt.weights),
    optimizer: { t: ckpt.optimizer.t, m: asBytes(ckpt.optimizer.m), v: asBytes(ckpt.optimizer.v) },
  });
  const bytes = pack({ format: CHECKPOINT_FORMAT, sha256: sha256(body), body });
  // Temp file, fsync, rename, fsync of the directory; the temp file is removed if any of it fails (ENOSPC).
  writeFileAtomic(file, bytes);
  for (const old of listCheckpoints(runDir).slice(0, -keep)) rmSync(join(dir, old));
  removeOrphans(dir);
  return file;
}

/** Temp files of writers that died mid-write (kill -9, power loss): never read, so never pruned otherwise. */
function removeOrphans(dir: string): void {
  for (const name of readdirSync(dir)) {
    const m = TEMP.exec(name);
    if (m && !processAlive(Number(m[1]))) rmSync(join(dir, name), { force: true });
  }
}

/** Checkpoint file names, oldest first. */
export function listCheckpoints(runDir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(checkpointDir(runDir));
  } catch (err) {
    // Only "no directory" means "no checkpoint": EACCES, EMFILE or ENOTDIR read
    // as none would make --resume say there is nothing to resume.
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return [];
    throw new CheckpointError(checkpointDir(runDir), `cannot list checkpoints (${code ?? String(err)})`, { cause: err });
  }
  return names.filter((n) => NAME.test(n)).sort();
}

/** Sizes a checkpoint must match: the model's weights (params + batch-norm state) and its params (optimizer moments). */
export interface CheckpointSizes {
  readonly weights: number;
  readonly params: number;
}

export function readCheckpoint(file: string, expectedHash: string, expected?: CheckpointSizes): Checkpoint {
  let raw: unknown;
  try {
    raw = unpack(readFileSync(file));
  } catch (err) {
    throw new CheckpointError(file, `unreadable or corrupt checkpoint (${err instanceof Error ? err.message : String(err)})`, {
      cause: err,
    });
  }
  const outer = raw as { format?: unknown; sha256?: unknown; body?: unknown } | null;
  if (outer && typeof outer === 'object' && outer.format === CHECKPOINT_FORMAT) {
    if (!(outer.body instanceof Uint8Array) || typeof outer.sha256 !== 'string')
      throw new CheckpointError(file, 'truncated or corrupt checkpoint (body or digest missing)');
    if (sha256(outer.body) !== outer.sha256) throw new CheckpointError(file, 'corrupt checkpoint (SHA-256 of the contents does not match)');
    try {
      raw = unpack(outer.body);
    } catch (err) {
      throw new CheckpointError(file, `corrupt checkpoint body (${err instanceof Error ? err.message : String(err)})`, { cause: err });
    }
  }
  if (!raw || typeof raw !== 'object' || !('format' in raw) || (raw.format !== CHECKPOINT_FORMAT && raw.format !== 1)) {
    throw new CheckpointError(file, 'not a PixelSense checkpoint (format field missing or unknown)');
  }
  const parsed = checkpointSchema.safeParse(raw);
  if (!parsed.success) throw new CheckpointError(file, `invalid checkpoint field ${describeCheckpointIssue(parsed.error)}`);
  const c = parsed.data;
  if (c.configHash !== expectedHash) {
    throw new CheckpointError(file, 'checkpoint was written under a different config (config hash differs); refusing to resume');
  }
  const weights = asFloats(c.weights) as Float32Array;
  const m = asFloats(c.optimizer.m) as Float32Array;
  const v = asFloats(c.optimizer.v) as Float32Array;
  if (expected) {
    if (weights.length !== expected.weights)
      throw new CheckpointError(
        file,
        `invalid checkpoint field weights: ${weights.length} values, but the config's model has ${expected.weights}`,
      );
    for (const [name, a] of [
      ['optimizer.m', m],
      ['optimizer.v', v],
    ] as const) {
      if (a.length !== expected.params)
        throw new CheckpointError(
          file,
          `invalid checkpoint field ${name}: ${a.length} values, but the config's model has ${expected.params} parameters`,
        );
    }
  }
  return { ...c, weights, optimizer: { t: c.optimizer.t, m, v } };
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * Float32Arrays travel as raw little-endian bytes: msgpackr 1.x does not
 * round-trip typed arrays reliably, and bytes are what we want on disk.
 */
function asBytes(a: Float32Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** Copy bytes back into an aligned Float32Array (unpacked buffers may sit at any offset). */
function asFloats(b: unknown): Float32Array | undefined {
  if (!(b instanceof Uint8Array) || b.byteLength % 4 !== 0) return undefined;
  const out = new Float32Array(b.byteLength / 4);
  new Uint8Array(out.buffer).set(b);
  return out;
}

/** The newest checkpoint of a run, validated against the config. */
export function latestCheckpoint(runDir: string, expectedHash: string, expected?: CheckpointSizes): Checkpoint {
  const names = listCheckpoints(runDir);
  const last = names[names.length - 1];
  if (!last) throw new CheckpointError(checkpointDir(runDir), 'no checkpoint to resume from');
  return readCheckpoint(join(checkpointDir(runDir), last), expectedHash, expected);
}
