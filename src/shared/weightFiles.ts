/**
 * The weight files a model.json lists, checked with stat before one byte is
 * read. model.json comes from wherever the user got the model, so its
 * manifest is untrusted: listing weights.bin 5,000 times would make us read
 * it 5,000 times, a FIFO would block the read forever, and a symlink could
 * lead anywhere. Each listed path must be a regular file (not a link), inside
 * the model directory, listed once, and each group's files must add up to
 * exactly the bytes its entries describe.
 */
import { lstat, realpath } from 'node:fs/promises';
import { isAbsolute, join, normalize, relative, sep } from 'node:path';
import { ModelError } from './errors.js';

export interface GroupFiles {
  /** Absolute paths of the group's files, in manifest order. */
  readonly files: string[];
  readonly bytes: number;
}

/**
 * Check every group's files; `expectedBytes(i)` is group i's size from its
 * entries. Returns the files to read, group by group.
 */
export async function checkWeightFiles(
  groups: readonly { paths: readonly string[] }[],
  baseDir: string,
  modelFile: string,
  expectedBytes: (group: number) => number,
): Promise<GroupFiles[]> {
  const realBase = await realpath(baseDir);
  const seen = new Set<string>();
  const out: GroupFiles[] = [];
  for (const [i, group] of groups.entries()) {
    const files: string[] = [];
    let bytes = 0;
    for (const p of group.paths) {
      if (isAbsolute(p) || normalize(p).split(/[\\/]/).includes('..')) {
        throw new ModelError(modelFile, `weightsManifest[${i}].paths: '${p}' points outside the model directory`);
      }
      const file = join(realBase, p);
      if (seen.has(file)) throw new ModelError(modelFile, `weightsManifest[${i}].paths: '${p}' is listed more than once`);
      seen.add(file);
      const info = await lstat(file).catch((err: NodeJS.ErrnoException) => {
        throw new ModelError(
          file,
          err.code === 'ENOENT' ? 'missing (listed in the weights manifest)' : `cannot read: ${err.code ?? err.message}`,
        );
      });
      if (info.isSymbolicLink())
        throw new ModelError(file, 'is a symbolic link; weight files must be regular files in the model directory');
      if (!info.isFile()) throw new ModelError(file, 'is not a regular file (a FIFO, device or directory); refusing to read it');
      // A directory component that is a link could still lead out: compare the resolved parent.
      const rel = relative(realBase, await realpath(file));
      if (rel.startsWith(`..${sep}`) || rel === '..' || isAbsolute(rel))
        throw new ModelError(file, 'resolves to a file outside the model directory');
      files.push(file);
      bytes += info.size;
    }
    const expected = expectedBytes(i);
    if (bytes !== expected) {
      const where = files.length === 1 ? (files[0] as string) : `${files[0]} (+${files.length - 1} shards)`;
      throw new ModelError(where, `weights are ${bytes} bytes but ${modelFile} describes ${expected} bytes`);
    }
    out.push({ files, bytes });
  }
  return out;
}
