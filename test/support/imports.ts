/**
 * The import graph of src/, read from the .ts sources with a regular
 * expression (static `import`/`export ... from` and dynamic `import('...')`
 * of relative paths): enough for this codebase's one-import-per-statement
 * style, and no parser to install. Used by test/layout.test.ts.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository's src/ (tests run from dist/test/…). */
export const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../../../src');

/** Module path relative to src/ (e.g. coordinator/training/trainer.ts) -> the modules it imports. */
export type ImportGraph = Map<string, Set<string>>;

const IMPORT =
  /(?:^|[\s;])(?:import|export)\s[^'"]*?from\s*['"](\.[^'"]+)['"]|import\(\s*['"](\.[^'"]+)['"]\s*\)|^import\s+['"](\.[^'"]+)['"]/gm;

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return walk(p);
    return e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [p] : [];
  });
}

export function importGraph(root: string): ImportGraph {
  const graph: ImportGraph = new Map();
  for (const file of walk(root)) {
    const text = readFileSync(file, 'utf8');
    const deps = new Set<string>();
    for (const m of text.matchAll(IMPORT)) {
      const spec = m[1] ?? m[2] ?? m[3];
      if (!spec) continue;
      deps.add(relative(root, resolve(dirname(file), spec.replace(/\.js$/, '.ts'))));
    }
    graph.set(relative(root, file), deps);
  }
  return graph;
}

/** 'coordinator', 'worker' or 'shared'. */
export function sideOf(module: string): string {
  return module.split('/')[0] ?? '';
}

/** The room of a coordinator module (its folder under src/coordinator), else null. */
export function roomOf(module: string): string | null {
  const parts = module.split('/');
  return parts[0] === 'coordinator' && parts.length > 2 ? (parts[1] ?? null) : null;
}

/** Pairs of coordinator rooms that import each other in both directions, as 'a <-> b'. */
export function roomPairs(graph: ImportGraph): string[] {
  const edges = new Set<string>();
  for (const [file, deps] of graph) {
    for (const dep of deps) {
      const a = roomOf(file);
      const b = roomOf(dep);
      if (a && b && a !== b) edges.add(`${a} ${b}`);
    }
  }
  return [...edges]
    .filter((e) => {
      const [a, b] = e.split(' ') as [string, string];
      return a < b && edges.has(`${b} ${a}`);
    })
    .map((e) => e.replace(' ', ' <-> '));
}

/** One import cycle (its modules, the first repeated at the end), or null: depth-first search with colours. */
export function findCycle(graph: ImportGraph): string[] | null {
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (node: string): string[] | null => {
    state.set(node, 'open');
    stack.push(node);
    for (const dep of graph.get(node) ?? []) {
      const s = state.get(dep);
      if (s === 'open') return [...stack.slice(stack.indexOf(dep)), dep];
      if (s === undefined) {
        const found = visit(dep);
        if (found) return found;
      }
    }
    stack.pop();
    state.set(node, 'done');
    return null;
  };
  for (const node of graph.keys()) {
    if (state.has(node)) continue;
    const found = visit(node);
    if (found) return found;
  }
  return null;
}
