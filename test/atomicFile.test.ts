/**
 * Crash-consistent writes (shared/atomicFile.ts, checkpoints, the model
 * directory): a failed write leaves the old contents and no temp file; temp
 * files of a writer that died are pruned; a directory is replaced as a unit.
 * The write failure is real: a child process with a file-size limit
 * (RLIMIT_FSIZE, SIGXFSZ ignored) gets EFBIG from write(2), as on a full disk.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { replaceDirAtomic, writeFileAtomic, writeFileSynced } from '../src/shared/atomicFile.js';
import { saveCheckpoint } from '../src/coordinator/training/checkpoint.js';

const withTmp = async (fn: (dir: string) => Promise<void> | void): Promise<void> => {
  const dir = mkdtempSync(join(tmpdir(), 'pixelsense-atomic-'));
  try {
    await fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
};

const CHECKPOINT_JS = fileURLToPath(new URL('../src/coordinator/training/checkpoint.js', import.meta.url));

/** Save a ~4 MB checkpoint into `runDir` in a child limited to 64 KiB files; returns its stderr and status. */
function saveUnderFileSizeLimit(runDir: string): { status: number | null; stderr: string } {
  const script = `
    const { saveCheckpoint } = await import(${JSON.stringify(CHECKPOINT_JS)});
    const w = new Float32Array(1 << 20);
    saveCheckpoint(${JSON.stringify(runDir)}, { configHash: 'x', step: 7, epoch: 0, stepInEpoch: 7, seed: 1, weights: w,
      optimizer: { t: 7, m: new Float32Array(4), v: new Float32Array(4) }, history: [], elapsedSeconds: 1, timeToTarget: null }, 3);`;
  const r = spawnSync('bash', ['-c', `trap '' XFSZ; ulimit -f 64; exec "${process.execPath}" --input-type=module -e "$0"`, script], {
    encoding: 'utf8',
  });
  return { status: r.status, stderr: r.stderr };
}

test('a checkpoint write that fails part-way (EFBIG, as ENOSPC) leaves no temp file behind', async () => {
  await withTmp((dir) => {
    const r = saveUnderFileSizeLimit(dir);
    assert.notEqual(r.status, 0, 'the write must fail under the file-size limit');
    assert.match(r.stderr, /EFBIG|file too large/i);
    assert.deepEqual(readdirSync(join(dir, 'checkpoints')), [], 'no ckpt-*.tmp-* left');
  });
});

test("a checkpoint temp file of a writer that died is removed by the next save; a live writer's is kept", async () => {
  await withTmp((dir) => {
    const ckpts = join(dir, 'checkpoints');
    mkdirSync(ckpts);
    // PID 2^22 + 1 is above Linux's pid_max limit, so no process has it.
    const dead = 'ckpt-000000003.msgpack.tmp-4194305';
    const live = `ckpt-000000004.msgpack.tmp-${process.pid}-0123abcd`;
    writeFileSync(join(ckpts, dead), 'half a checkpoint');
    writeFileSync(join(ckpts, live), 'being written');
    saveCheckpoint(
      dir,
      {
        configHash: 'x',
        step: 5,
        epoch: 0,
        stepInEpoch: 5,
        seed: 1,
        weights: new Float32Array(4),
        optimizer: { t: 5, m: new Float32Array(4), v: new Float32Array(4) },
        history: [],
        elapsedSeconds: 1,
        timeToTarget: null,
      },
      3,
    );
    assert.deepEqual(readdirSync(ckpts).sort(), [`ckpt-000000004.msgpack.tmp-${process.pid}-0123abcd`, 'ckpt-000000005.msgpack'].sort());
  });
});

test('writeFileAtomic replaces the contents and leaves only the target', async () => {
  await withTmp((dir) => {
    const f = join(dir, 'run.json');
    writeFileAtomic(f, 'old');
    writeFileAtomic(f, 'new');
    assert.equal(readFileSync(f, 'utf8'), 'new');
    assert.deepEqual(readdirSync(dir), ['run.json']);
  });
});

test('a directory replacement that fails while filling leaves the old directory whole and no temp directory', async () => {
  await withTmp(async (dir) => {
    const model = join(dir, 'model');
    await replaceDirAtomic(model, async (tmp) => {
      writeFileSynced(join(tmp, 'model.json'), 'old topology');
      writeFileSynced(join(tmp, 'weights.bin'), 'old weights');
    });
    await assert.rejects(
      replaceDirAtomic(model, async (tmp) => {
        writeFileSynced(join(tmp, 'weights.bin'), 'new weights');
        throw new Error('interrupted before model.json');
      }),
      /interrupted before model\.json/,
    );
    assert.deepEqual(readdirSync(dir), ['model']);
    assert.equal(readFileSync(join(model, 'model.json'), 'utf8'), 'old topology');
    assert.equal(readFileSync(join(model, 'weights.bin'), 'utf8'), 'old weights');
  });
});

test('a directory replacement swaps both files in together and removes leftovers of a dead writer', async () => {
  await withTmp(async (dir) => {
    const model = join(dir, 'model');
    mkdirSync(join(dir, 'model.tmp-4194305-0badf00d'));
    writeFileSync(join(dir, 'model.tmp-4194305-0badf00d', 'weights.bin'), 'orphan');
    await replaceDirAtomic(model, async (tmp) => writeFileSynced(join(tmp, 'model.json'), 'v1'));
    await replaceDirAtomic(model, async (tmp) => {
      writeFileSynced(join(tmp, 'model.json'), 'v2');
      writeFileSynced(join(tmp, 'weights.bin'), 'w2');
    });
    assert.deepEqual(readdirSync(dir), ['model']);
    assert.deepEqual(readdirSync(model).sort(), ['model.json', 'weights.bin']);
    assert.equal(readFileSync(join(model, 'model.json'), 'utf8'), 'v2');
  });
});
