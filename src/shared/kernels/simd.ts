/**
 * Hand-assembled WebAssembly SIMD helpers that run on the wasm backend's own
 * heap (imported memory), for memory-bound loops where V8's JIT on typed
 * arrays manages ~1 ns/element and 128-bit SIMD does 4-10x better.
 *
 * No toolchain is needed: the module is encoded below (~1.5 KB) and
 * instantiated synchronously once per backend memory. The backend's memory
 * is Module.asm.memory (emscripten's export); if it is missing, or the
 * engine lacks SIMD, `simdFor()` returns undefined and every caller keeps
 * its plain-JS path. All pointers are byte addresses into that memory.
 *
 * Functions (all loops counted, no allocation, no bounds beyond the caller's):
 *  colsum(src, rows, chunks, acc)         acc f64[4*chunks] += column sums of
 *                                         src f32[rows][4*chunks] (f64 lanes)
 *  maxPoolRow(xb, dxDelta, gp, offs, k, cbytes, count, xstep)
 *                                         max-pool gradient for `count`
 *                                         windows of one output row: window
 *                                         element byte offsets (from the
 *                                         window origin xb) in i32 offs[k];
 *                                         first strict max per lane from
 *                                         -Infinity (cpu semantics); adds dy
 *                                         at dx = x address + dxDelta
 *  copyRuns(dst, src, nOuter, outerStride, nInner, innerStride, runLen, elemStride)
 *                                         dst (contiguous f32) <- runs of
 *                                         runLen elements, strided gathers
 *  outerAcc(cols, dy, acc, m, t, cobytes, tstride)
 *                                         acc f32[t][co] += sum over m of
 *                                         cols[t][m] * dy[m][co] (cols rows
 *                                         tstride bytes apart)
 *  addSame/subSame/mulSame(a, b, out, n4) out = a op b over n4 f32x4 chunks
 *  addRow/subRow/mulRow(a, b, out, rows, cols4)
 *                                         out[r][c] = a[r][c] op b[c]
 *  step(x, out, n4, alphaBits)            x > 0 ? 1 : alpha (NaN -> NaN)
 *  relu(x, out, n4)                       x < 0 ? 0 : x (NaN -> NaN)
 *  col2imRow(cols, dxb, offs, taps, cbytes, count, xstep)
 *                                         for `count` positions xstep bytes
 *                                         apart: dx[dxb + offs[t]] += the
 *                                         next cbytes of cols, per tap t
 */
// The project compiles with lib ES2022 only (no DOM), which has no
// WebAssembly typings: declare the three classes used here.
declare namespace WebAssembly {
  class Memory { readonly buffer: ArrayBuffer }
  class Module { constructor(bytes: Uint8Array) }
  class Instance { constructor(module: Module, imports: object); readonly exports: object }
}

const I32 = 0x7f;
const V128 = 0x7b;

function uleb(n: number): number[] {
  const out: number[] = [];
  let v = n >>> 0;
  do {
    let b = v & 0x7f;
    v >>>= 7;
    if (v !== 0) b |= 0x80;
    out.push(b);
  } while (v !== 0);
  return out;
}

function sleb(n: number): number[] {
  const out: number[] = [];
  let v = n | 0;
  for (;;) {
    const b = v & 0x7f;
    v >>= 7;
    if ((v === 0 && (b & 0x40) === 0) || (v === -1 && (b & 0x40) !== 0)) { out.push(b); return out; }
    out.push(b | 0x80);
  }
}

const simd = (code: number, ...imm: number[]): number[] => [0xfd, ...uleb(code), ...imm];
// Instruction helpers (subset). Memory immediates: align (log2), offset.
const get = (i: number): number[] => [0x20, ...uleb(i)];
const set = (i: number): number[] => [0x21, ...uleb(i)];
const i32 = (v: number): number[] => [0x41, ...sleb(v)];
const f32c = (v: number): number[] => [0x43, ...new Uint8Array(new Float32Array([v]).buffer)];
const ADD = [0x6a], MUL = [0x6c], GE_S = [0x4e], NE = [0x47];
const I32_LOAD = [0x28, 2, 0], F32_LOAD = [0x2a, 2, 0], F32_STORE = [0x38, 2, 0], F32_ADD = [0x92];
const vload = (off = 0): number[] => simd(0x00, 0, ...uleb(off));
const vstore = (off = 0): number[] => simd(0x0b, 0, ...uleb(off));
const F32X4_SPLAT = simd(0x13), I32X4_SPLAT = simd(0x11), F32X4_GT = simd(0x44), BITSELECT = simd(0x52);
const F32X4_ADD = simd(0xe4), F32X4_MUL = simd(0xe6), F64X2_ADD = simd(0xf0), F64X2_PROMOTE_LOW = simd(0x5f);
const HIGH_TO_LOW = simd(0x0d, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7);
const i32x4Lane = (l: number): number[] => simd(0x1b, l);
const f32x4Lane = (l: number): number[] => simd(0x1f, l);
const inc = (local: number, by: number[]): number[] => [...get(local), ...by, ...ADD, ...set(local)];

/** `while (counter < limit) { body; counter += step }` as block/loop. */
function loop(counter: number, limit: number[], step: number[], body: number[]): number[] {
  return [0x02, 0x40, 0x03, 0x40, ...get(counter), ...limit, ...GE_S, 0x0d, 1,
    ...body, ...inc(counter, step), 0x0c, 0, 0x0b, 0x0b];
}

interface Fn { name: string; params: number; locals: number[]; body: number[] }

// colsum(src0, rows1, chunks2, acc3) locals r4 j5 a6 v7:v128
const colsum: Fn = {
  name: 'colsum', params: 4, locals: [I32, I32, I32, V128],
  body: [...i32(0), ...set(4),
    ...loop(4, get(1), i32(1), [
      ...i32(0), ...set(5), ...get(3), ...set(6),
      ...loop(5, get(2), i32(1), [
        ...get(0), ...vload(), ...set(7),
        ...get(6), ...get(6), ...vload(0), ...get(7), ...F64X2_PROMOTE_LOW, ...F64X2_ADD, ...vstore(0),
        ...get(6), ...get(6), ...vload(16), ...get(7), ...get(7), ...HIGH_TO_LOW, ...F64X2_PROMOTE_LOW,
        ...F64X2_ADD, ...vstore(16),
        ...inc(0, i32(16)), ...inc(6, i32(32)),
      ]),
    ])],
};

// maxPoolRow(xb0, dxDelta1, gp2, offs3, k4, cbytes5, count6, xstep7)
// locals w8 ch9 j10 o11 p12 best13:v pos14:v v15:v m16:v g17:v
const lanes: number[] = [];
for (let l = 0; l < 4; l++) {
  lanes.push(...get(14), ...i32x4Lane(l), ...set(12),
    ...get(12), ...i32(0), ...GE_S, 0x04, 0x40,
    ...get(0), ...get(1), ...ADD, ...get(12), ...ADD, ...i32(l * 4), ...ADD, ...set(11),
    ...get(11), ...get(11), ...F32_LOAD, ...get(17), ...f32x4Lane(l), ...F32_ADD, ...F32_STORE,
    0x0b);
}
const maxPoolRow: Fn = {
  name: 'maxPoolRow', params: 8, locals: [I32, I32, I32, I32, I32, V128, V128, V128, V128, V128],
  body: [...i32(0), ...set(8),
    ...loop(8, get(6), i32(1), [
      ...i32(0), ...set(9),
      ...loop(9, get(5), i32(16), [
        ...f32c(-Infinity), ...F32X4_SPLAT, ...set(13), ...i32(-1), ...I32X4_SPLAT, ...set(14),
        ...i32(0), ...set(10),
        ...loop(10, get(4), i32(1), [
          ...get(3), ...get(10), ...i32(4), ...MUL, ...ADD, ...I32_LOAD, ...get(9), ...ADD, ...set(11),
          ...get(0), ...get(11), ...ADD, ...vload(), ...set(15),
          ...get(15), ...get(13), ...F32X4_GT, ...set(16),
          ...get(15), ...get(13), ...get(16), ...BITSELECT, ...set(13),
          ...get(11), ...I32X4_SPLAT, ...get(14), ...get(16), ...BITSELECT, ...set(14),
        ]),
        ...get(2), ...get(9), ...ADD, ...vload(), ...set(17),
        ...lanes,
      ]),
      ...inc(0, get(7)), ...inc(2, get(5)),
    ])],
};

// copyRuns(dst0, src1, nOuter2, outerStride3, nInner4, innerStride5, runLen6, elemStride7)
// locals a8 b9 e10 s11
const copyRuns: Fn = {
  name: 'copyRuns', params: 8, locals: [I32, I32, I32, I32],
  body: [...i32(0), ...set(8),
    ...loop(8, get(2), i32(1), [
      ...i32(0), ...set(9),
      ...loop(9, get(4), i32(1), [
        ...get(1), ...get(8), ...get(3), ...MUL, ...ADD, ...get(9), ...get(5), ...MUL, ...ADD, ...set(11),
        ...i32(0), ...set(10),
        // Vector part only when elements are contiguous (elemStride == 4).
        ...get(7), ...i32(4), ...NE, 0x04, 0x40, ...get(6), ...set(10), 0x0b,
        ...loop(10, [...get(6), ...i32(-3), ...ADD], i32(4), [
          ...get(0), ...get(11), ...vload(), ...vstore(),
          ...inc(0, i32(16)), ...inc(11, i32(16)),
        ]),
        // Scalar tail (or the whole run when strided).
        ...get(7), ...i32(4), ...NE, 0x04, 0x40, ...i32(0), ...set(10), 0x0b,
        ...loop(10, get(6), i32(1), [
          ...get(0), ...get(11), ...F32_LOAD, ...F32_STORE,
          ...inc(0, i32(4)), ...inc(11, get(7)),
        ]),
      ]),
    ])],
};

// outerAcc(cols0, dy1, acc2, m3, t4, cobytes5, tstride6)
// locals i7 j8 q9 a10:v ap11 d12 p13; cols is [t][m] with row stride tstride bytes
const outerAcc: Fn = {
  name: 'outerAcc', params: 7, locals: [I32, I32, I32, V128, I32, I32, I32],
  body: [...i32(0), ...set(7),
    ...loop(7, get(3), i32(1), [
      ...get(2), ...set(11), ...get(0), ...set(13), ...i32(0), ...set(8),
      ...loop(8, get(4), i32(1), [
        ...get(13), ...F32_LOAD, ...F32X4_SPLAT, ...set(10), ...inc(13, get(6)),
        ...get(1), ...set(12), ...i32(0), ...set(9),
        ...loop(9, get(5), i32(16), [
          ...get(11), ...get(11), ...vload(), ...get(10), ...get(12), ...vload(), ...F32X4_MUL, ...F32X4_ADD, ...vstore(),
          ...inc(11, i32(16)), ...inc(12, i32(16)),
        ]),
      ]),
      ...inc(0, i32(4)), ...inc(1, get(5)),
    ])],
};

// Element-wise f32x4 loops; lengths in 4-float chunks, tails done by JS.
// binSame(a0, b1, out2, n4_3) locals i4: out = a (op) b
function binSame(name: string, op: number[]): Fn {
  return {
    name, params: 4, locals: [I32],
    body: [...i32(0), ...set(4),
      ...loop(4, get(3), i32(1), [
        ...get(2), ...get(0), ...vload(), ...get(1), ...vload(), ...op, ...vstore(),
        ...inc(0, i32(16)), ...inc(1, i32(16)), ...inc(2, i32(16)),
      ])],
  };
}
// binRow(a0, b1, out2, rows3, cols4_4) locals r5 j6 bp7: out[r][c] = a[r][c] (op) b[c]
function binRow(name: string, op: number[]): Fn {
  return {
    name, params: 5, locals: [I32, I32, I32],
    body: [...i32(0), ...set(5),
      ...loop(5, get(3), i32(1), [
        ...get(1), ...set(7), ...i32(0), ...set(6),
        ...loop(6, get(4), i32(1), [
          ...get(2), ...get(0), ...vload(), ...get(7), ...vload(), ...op, ...vstore(),
          ...inc(0, i32(16)), ...inc(7, i32(16)), ...inc(2, i32(16)),
        ]),
      ])],
  };
}
const F32X4_SUB = simd(0xe5), F32X4_NE = simd(0x42), F32X4_LT = simd(0x43);
// step(x0, out1, n4_2, alphaBits3) locals i4 one5:v al6:v zero7:v v8:v
// out = x > 0 ? 1 : alpha, NaN stays NaN (as the cpu backend).
const step: Fn = {
  name: 'step', params: 4, locals: [I32, V128, V128, V128, V128],
  body: [...f32c(1), ...F32X4_SPLAT, ...set(5), ...get(3), 0xbe, ...F32X4_SPLAT, ...set(6),
    ...f32c(0), ...F32X4_SPLAT, ...set(7), ...i32(0), ...set(4),
    ...loop(4, get(2), i32(1), [
      ...get(0), ...vload(), ...set(8),
      ...get(1),
      ...get(8),
      ...get(5), ...get(6), ...get(8), ...get(7), ...F32X4_GT, ...BITSELECT,
      ...get(8), ...get(8), ...F32X4_NE, ...BITSELECT,
      ...vstore(),
      ...inc(0, i32(16)), ...inc(1, i32(16)),
    ])],
};
// relu(x0, out1, n4_2) locals i3 zero4:v v5:v: out = x < 0 ? 0 : x (NaN stays NaN)
const relu: Fn = {
  name: 'relu', params: 3, locals: [I32, V128, V128],
  body: [...f32c(0), ...F32X4_SPLAT, ...set(4), ...i32(0), ...set(3),
    ...loop(3, get(2), i32(1), [
      ...get(0), ...vload(), ...set(5),
      ...get(1), ...get(4), ...get(5), ...get(5), ...get(4), ...F32X4_LT, ...BITSELECT, ...vstore(),
      ...inc(0, i32(16)), ...inc(1, i32(16)),
    ])],
};

// col2imRow(cols0, dxb1, offs2, taps3, cbytes4, count5, xstep6) locals w7 t8 ch9 d10
// for `count` positions: dx[dxb + offs[t] + ch] += cols[...] (cols sequential)
const col2imRow: Fn = {
  name: 'col2imRow', params: 7, locals: [I32, I32, I32, I32],
  body: [...i32(0), ...set(7),
    ...loop(7, get(5), i32(1), [
      ...i32(0), ...set(8),
      ...loop(8, get(3), i32(1), [
        ...get(1), ...get(2), ...get(8), ...i32(4), ...MUL, ...ADD, ...I32_LOAD, ...ADD, ...set(10),
        ...i32(0), ...set(9),
        ...loop(9, get(4), i32(16), [
          ...get(10), ...get(10), ...vload(), ...get(0), ...vload(), ...F32X4_ADD, ...vstore(),
          ...inc(10, i32(16)), ...inc(0, i32(16)),
        ]),
      ]),
      ...inc(1, get(6)),
    ])],
};

const FNS: Fn[] = [col2imRow, colsum, maxPoolRow, copyRuns, outerAcc,
  binSame('addSame', F32X4_ADD), binSame('subSame', F32X4_SUB), binSame('mulSame', F32X4_MUL),
  binRow('addRow', F32X4_ADD), binRow('subRow', F32X4_SUB), binRow('mulRow', F32X4_MUL), step, relu];

function section(id: number, payload: number[]): number[] {
  return [id, ...uleb(payload.length), ...payload];
}

function vec(items: number[][]): number[] {
  return [...uleb(items.length), ...items.flat()];
}

function encodeModule(): Uint8Array {
  const name = (s: string): number[] => [...uleb(s.length), ...new TextEncoder().encode(s)];
  const types = vec(FNS.map((f) => [0x60, ...vec(Array.from({ length: f.params }, () => [I32])), 0]));
  const imports = vec([[...name('env'), ...name('memory'), 0x02, 0x00, 0x01]]);
  const funcs = vec(FNS.map((_, i) => uleb(i)));
  const exports = vec(FNS.map((f, i) => [...name(f.name), 0x00, ...uleb(i)]));
  const bodies = vec(FNS.map((f) => {
    const locals = vec(f.locals.map((t) => [1, t]));
    const body = [...locals, ...f.body, 0x0b];
    return [...uleb(body.length), ...body];
  }));
  return new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, types), ...section(2, imports), ...section(3, funcs),
    ...section(7, exports), ...section(10, bodies)]);
}

export interface Simd {
  colsum(src: number, rows: number, chunks: number, acc: number): void;
  maxPoolRow(xb: number, dxDelta: number, gp: number, offs: number, k: number, cbytes: number, count: number, xstep: number): void;
  copyRuns(dst: number, src: number, nOuter: number, outerStride: number, nInner: number, innerStride: number, runLen: number, elemStride: number): void;
  outerAcc(cols: number, dy: number, acc: number, m: number, t: number, cobytes: number, tstride: number): void;
  addSame(a: number, b: number, out: number, n4: number): void;
  subSame(a: number, b: number, out: number, n4: number): void;
  mulSame(a: number, b: number, out: number, n4: number): void;
  addRow(a: number, b: number, out: number, rows: number, cols4: number): void;
  subRow(a: number, b: number, out: number, rows: number, cols4: number): void;
  mulRow(a: number, b: number, out: number, rows: number, cols4: number): void;
  step(x: number, out: number, n4: number, alphaBits: number): void;
  relu(x: number, out: number, n4: number): void;
  col2imRow(cols: number, dxb: number, offs: number, taps: number, cbytes: number, count: number, xstep: number): void;
}

const cache = new WeakMap<WebAssembly.Memory, Simd | null>();
let compiled: WebAssembly.Module | null | undefined;
let disabled = process.env.PIXELSENSE_NO_SIMD === '1';

/** Turns the SIMD helpers off (tests use it to exercise the JS paths). */
export function setSimdEnabled(on: boolean): void { disabled = !on; }

/** The helpers bound to `backend`'s heap, or undefined (use plain JS). */
export function simdFor(backend: unknown): Simd | undefined {
  if (disabled) return undefined;
  const memory = (backend as { wasm?: { asm?: { memory?: unknown } } }).wasm?.asm?.memory;
  if (!(memory instanceof WebAssembly.Memory)) return undefined;
  let inst = cache.get(memory);
  if (inst === undefined) {
    try {
      if (compiled === undefined) compiled = new WebAssembly.Module(encodeModule());
      inst = compiled === null ? null
        : new WebAssembly.Instance(compiled, { env: { memory } }).exports as unknown as Simd;
    } catch {
      compiled = null;
      inst = null;
    }
    cache.set(memory, inst);
  }
  return inst ?? undefined;
}
