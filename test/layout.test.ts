/**
 * The source tree's import rules, checked on the .ts sources: the
 * coordinator and the worker never import each other, src/shared imports
 * neither, the package entry imports only the library and src/shared, no two rooms of src/coordinator import each other, and no import
 * cycle exists (type-only imports count: they still tie two modules together).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { importGraph, findCycle, roomPairs, sideOf, SRC } from './support/imports.js';

const graph = importGraph(SRC);
/** The package entry: the library's public face, above both sides. */
const ENTRY = 'index.ts';

test('the source tree has modules in each side and their imports resolve', () => {
  assert.ok(graph.size > 50, `only ${graph.size} modules found under ${SRC}`);
  for (const [file, deps] of graph)
    for (const dep of deps) assert.ok(graph.has(dep), `${file} imports ${dep}, which is not a module under src/`);
});

test('the coordinator and the worker never import each other, and src/shared imports neither', () => {
  const crossing: string[] = [];
  for (const [file, deps] of graph) {
    if (file === ENTRY) continue; // the package entry: its own test below
    const from = sideOf(file);
    for (const dep of deps) {
      const to = sideOf(dep);
      if (from !== to && to !== 'shared') crossing.push(`${file} -> ${dep}`);
    }
  }
  assert.deepEqual(crossing, []);
});

test('the package entry (src/index.ts) imports only the library room and src/shared, and nothing imports it', () => {
  const deps = [...(graph.get(ENTRY) ?? [])];
  assert.ok(deps.length > 0, 'src/index.ts imports nothing');
  assert.deepEqual(
    deps.filter((d) => !d.startsWith('coordinator/api/') && sideOf(d) !== 'shared'),
    [],
  );
  const importers = [...graph].filter(([, ds]) => ds.has(ENTRY)).map(([f]) => f);
  assert.deepEqual(importers, []);
});

test('no two rooms of src/coordinator import each other', () => {
  assert.deepEqual(roomPairs(graph), []);
});

test('no module imports itself through a cycle', () => {
  assert.equal(findCycle(graph)?.join(' -> ') ?? null, null);
});
