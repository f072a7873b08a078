/**
 * Crash-consistent writes: a file or a whole directory is replaced as a unit.
 *
 * A file: temp file in the same directory, write, fsync, rename, fsync of the
 * directory. A reader (or a crash, or a power loss) sees the old contents or
 * the new, never a mix. The two fsyncs cost a few ms per file; we write a
 * handful of files per checkpoint or run, never per step.
 *
 * A directory (the model): filled in a temp sibling, then swapped in with two
 * renames (old -> aside, temp -> place). POSIX has no portable atomic swap of
 * two non-empty directories, so a crash between the two renames leaves no
 * directory at the real name (the old one is still complete beside it, as
 * `<name>.old-<pid>-<hex>`) — never a new file next to an old one.
 *
 * On any failure the temp file or directory is removed before the error is
 * rethrown, so ENOSPC does not leave a full-size orphan behind.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

/** A unique sibling name: same directory, so rename() is atomic. `tag` ends up in the name. */
export function tempSibling(path: string, tag = 'tmp'): string {
  return `${path}.${tag}-${process.pid}-${randomBytes(4).toString('hex')}`;
}

/** Sync a directory so a rename inside it survives a power loss. Best effort where a directory cannot be opened (Windows). */
export function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EISDIR' && code !== 'EPERM' && code !== 'EINVAL' && code !== 'EBADF') throw err;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** Write `data` to a new file and fsync it (no rename; the caller owns the name). */
export function writeFileSynced(file: string, data: string | Uint8Array): void {
  const bytes = typeof data === 'string' ? Buffer.from(data) : data;
  const fd = openSync(file, 'wx');
  try {
    for (let off = 0; off < bytes.length; ) off += writeSync(fd, bytes, off);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Replace `file` with `data` atomically and durably; the temp file never outlives a failure. */
export function writeFileAtomic(file: string, data: string | Uint8Array): void {
  const tmp = tempSibling(file);
  try {
    writeFileSynced(tmp, data);
    renameSync(tmp, file);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
  fsyncDir(dirname(file));
}

/**
 * Replace directory `dir` with one that `fill` builds in a temp sibling. The
 * files `fill` writes must be synced by it (writeFileSynced). Leftovers of an
 * earlier crash (`<name>.tmp-*`, `<name>.old-*` of a process that is gone)
 * are removed first.
 */
export async function replaceDirAtomic(dir: string, fill: (tmpDir: string) => Promise<void>): Promise<void> {
  removeStaleSiblings(dir);
  const tmp = tempSibling(dir);
  const old = tempSibling(dir, 'old');
  try {
    mkdirSync(tmp);
    await fill(tmp);
    fsyncDir(tmp);
    let hadOld = true;
    try {
      renameSync(dir, old);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      hadOld = false;
    }
    renameSync(tmp, dir);
    fsyncDir(dirname(dir));
    if (hadOld) rmSync(old, { recursive: true, force: true });
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
}

/** `<name>.tmp-PID-HEX` / `<name>.old-PID-HEX` siblings whose process is no longer running. */
export function removeStaleSiblings(path: string): void {
  const name = basename(path);
  const pattern = new RegExp(`^${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\.(?:tmp|old)-(\\d+)-[0-9a-f]{8}$`);
  let entries: string[];
  try {
    entries = readdirSync(dirname(path));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  for (const e of entries) {
    const m = pattern.exec(e);
    if (m && !processAlive(Number(m[1]))) rmSync(join(dirname(path), e), { recursive: true, force: true });
  }
}

/** True if a process with this id exists (signal 0 probes without sending anything). */
export function processAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
