/**
 * This build's PixelSense version (package.json), which a coordinator and
 * its hosts must share: the same version computes the same bits.
 * PIXELSENSE_VERSION_OVERRIDE replaces it, for the test that a host of
 * another version is refused.
 */
import { readFileSync } from 'node:fs';

function packageVersion(): string {
  // dist/src/coordinator/cluster/ (or src/coordinator/cluster/) -> repository root
  for (const up of ['../../../../package.json', '../../../package.json']) {
    try {
      const v = JSON.parse(readFileSync(new URL(up, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (v.name === 'pixelsense' && typeof v.version === 'string') return v.version;
    } catch {
      // try the next level
    }
  }
  return 'unknown';
}

export const PIXELSENSE_VERSION: string = process.env['PIXELSENSE_VERSION_OVERRIDE'] || packageVersion();
