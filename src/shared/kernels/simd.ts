/**
 * Hand-assembled WebAssembly SIMD helpers that run on the wasm backend's own
 * heap (imported memory), for memory-bound loops where V8's JIT on typed
 * arrays manages ~1 ns/element and 128-bit SIMD does 4-10x better.
 *
 * No toolchain is needed: the module is encoded here with wasm-asm.ts (~2.9 KB) and
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
 *  maxPoolTile(...)                       as maxPoolRow for non-overlapping
 *                                         windows: stores dy or 0 to every
 *                                         window element (no zero-fill)
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
 *  reluGrad(dy, x, out, n4)               dy * step(x) (step: 1, 0 or NaN)
 *  copyRunsOver(dst, src, nOuter, outerStride, nInner, innerStride, runLen)
 *                                         copyRuns for contiguous runs, whole
 *                                         vectors only (writes up to 3 floats
 *                                         past the end: caller leaves slack)
 *  col2imRow(cols, dxb, offs, taps, cbytes, count, xstep)
 *                                         for `count` positions xstep bytes
 *                                         apart: dx[dxb + offs[t]] += the
 *                                         next cbytes of cols, per tap t
 *  affineRow(x, sub, mul, add, out, rows, cols4)
 *                                         out[r][c] = (x[r][c] - sub[c]) *
 *                                         mul[c] + add[c] (inference batch
 *                                         norm)
 */
import {
  ADD,
  BITSELECT,
  F32_ADD,
  F32_LOAD,
  F32_STORE,
  F32X4_ADD,
  F32X4_GT,
  F32X4_LT,
  F32X4_MUL,
  F32X4_NE,
  F32X4_SPLAT,
  F32X4_SUB,
  F64X2_ADD,
  F64X2_PROMOTE_LOW,
  HIGH_TO_LOW,
  I32,
  I32_LOAD,
  I32X4_EQ,
  I32X4_SPLAT,
  MUL,
  NE,
  V128,
  GE_S,
  Wasm,
  encodeModule,
  f32c,
  f32x4Lane,
  get,
  i32,
  i32x4Lane,
  inc,
  loop,
  set,
  vload,
  vstore,
  type Fn,
  type WasmMemory,
  type WasmModule,
} from './wasm-asm.js';

// colsum(src0, rows1, chunks2, acc3) locals r4 j5 a6 v7:v128
const colsum: Fn = {
  name: 'colsum',
  params: 4,
  locals: [I32, I32, I32, V128],
  body: [
    ...i32(0),
    ...set(4),
    ...loop(4, get(1), i32(1), [
      ...i32(0),
      ...set(5),
      ...get(3),
      ...set(6),
      ...loop(5, get(2), i32(1), [
        ...get(0),
        ...vload(),
        ...set(7),
        ...get(6),
        ...get(6),
        ...vload(0),
        ...get(7),
        ...F64X2_PROMOTE_LOW,
        ...F64X2_ADD,
        ...vstore(0),
        ...get(6),
        ...get(6),
        ...vload(16),
        ...get(7),
        ...get(7),
        ...HIGH_TO_LOW,
        ...F64X2_PROMOTE_LOW,
        ...F64X2_ADD,
        ...vstore(16),
        ...inc(0, i32(16)),
        ...inc(6, i32(32)),
      ]),
    ]),
  ],
};

// maxPoolRow(xb0, dxDelta1, gp2, offs3, k4, cbytes5, count6, xstep7)
// locals w8 ch9 j10 o11 p12 best13:v pos14:v v15:v m16:v g17:v
const lanes: number[] = [];
for (let l = 0; l < 4; l++) {
  lanes.push(
    ...get(14),
    ...i32x4Lane(l),
    ...set(12),
    ...get(12),
    ...i32(0),
    ...GE_S,
    0x04,
    0x40,
    ...get(0),
    ...get(1),
    ...ADD,
    ...get(12),
    ...ADD,
    ...i32(l * 4),
    ...ADD,
    ...set(11),
    ...get(11),
    ...get(11),
    ...F32_LOAD,
    ...get(17),
    ...f32x4Lane(l),
    ...F32_ADD,
    ...F32_STORE,
    0x0b,
  );
}
// tile = true: windows do not overlap, so instead of adding dy at the argmax
// lane by lane, every window element is stored: dy where it is the argmax,
// 0 elsewhere (local 18 holds the zero vector). No zero-fill of dx needed
// where windows tile the input.
const tileStores: number[] = [
  ...i32(0),
  ...set(10),
  ...loop(10, get(4), i32(1), [
    ...get(3),
    ...get(10),
    ...i32(4),
    ...MUL,
    ...ADD,
    ...I32_LOAD,
    ...get(9),
    ...ADD,
    ...set(11),
    ...get(0),
    ...get(1),
    ...ADD,
    ...get(11),
    ...ADD,
    ...get(17),
    ...get(18),
    ...get(14),
    ...get(11),
    ...I32X4_SPLAT,
    ...I32X4_EQ,
    ...BITSELECT,
    ...vstore(),
  ]),
];
function maxPoolFn(name: string, tile: boolean): Fn {
  return {
    name,
    params: 8,
    locals: [I32, I32, I32, I32, I32, V128, V128, V128, V128, V128, ...(tile ? [V128] : [])],
    body: [
      ...(tile ? [...f32c(0), ...F32X4_SPLAT, ...set(18)] : []),
      ...i32(0),
      ...set(8),
      ...loop(8, get(6), i32(1), [
        ...i32(0),
        ...set(9),
        ...loop(9, get(5), i32(16), [
          ...f32c(-Infinity),
          ...F32X4_SPLAT,
          ...set(13),
          ...i32(-1),
          ...I32X4_SPLAT,
          ...set(14),
          ...i32(0),
          ...set(10),
          ...loop(10, get(4), i32(1), [
            ...get(3),
            ...get(10),
            ...i32(4),
            ...MUL,
            ...ADD,
            ...I32_LOAD,
            ...get(9),
            ...ADD,
            ...set(11),
            ...get(0),
            ...get(11),
            ...ADD,
            ...vload(),
            ...set(15),
            ...get(15),
            ...get(13),
            ...F32X4_GT,
            ...set(16),
            ...get(15),
            ...get(13),
            ...get(16),
            ...BITSELECT,
            ...set(13),
            ...get(11),
            ...I32X4_SPLAT,
            ...get(14),
            ...get(16),
            ...BITSELECT,
            ...set(14),
          ]),
          ...get(2),
          ...get(9),
          ...ADD,
          ...vload(),
          ...set(17),
          ...(tile ? tileStores : lanes),
        ]),
        ...inc(0, get(7)),
        ...inc(2, get(5)),
      ]),
    ],
  };
}
const maxPoolRow = maxPoolFn('maxPoolRow', false);
const maxPoolTile = maxPoolFn('maxPoolTile', true);

// copyRuns(dst0, src1, nOuter2, outerStride3, nInner4, innerStride5, runLen6, elemStride7)
// locals a8 b9 e10 s11
const copyRuns: Fn = {
  name: 'copyRuns',
  params: 8,
  locals: [I32, I32, I32, I32],
  body: [
    ...i32(0),
    ...set(8),
    ...loop(8, get(2), i32(1), [
      ...i32(0),
      ...set(9),
      ...loop(9, get(4), i32(1), [
        ...get(1),
        ...get(8),
        ...get(3),
        ...MUL,
        ...ADD,
        ...get(9),
        ...get(5),
        ...MUL,
        ...ADD,
        ...set(11),
        ...i32(0),
        ...set(10),
        // Vector part only when elements are contiguous (elemStride == 4).
        ...get(7),
        ...i32(4),
        ...NE,
        0x04,
        0x40,
        ...get(6),
        ...set(10),
        0x0b,
        ...loop(10, [...get(6), ...i32(-3), ...ADD], i32(4), [
          ...get(0),
          ...get(11),
          ...vload(),
          ...vstore(),
          ...inc(0, i32(16)),
          ...inc(11, i32(16)),
        ]),
        // Scalar tail (or the whole run when strided).
        ...get(7),
        ...i32(4),
        ...NE,
        0x04,
        0x40,
        ...i32(0),
        ...set(10),
        0x0b,
        ...loop(10, get(6), i32(1), [...get(0), ...get(11), ...F32_LOAD, ...F32_STORE, ...inc(0, i32(4)), ...inc(11, get(7))]),
      ]),
    ]),
  ],
};

// outerAcc(cols0, dy1, acc2, m3, t4, cobytes5, tstride6)
// locals i7 j8 q9 a10:v ap11 d12 p13; cols is [t][m] with row stride tstride bytes
const outerAcc: Fn = {
  name: 'outerAcc',
  params: 7,
  locals: [I32, I32, I32, V128, I32, I32, I32],
  body: [
    ...i32(0),
    ...set(7),
    ...loop(7, get(3), i32(1), [
      ...get(2),
      ...set(11),
      ...get(0),
      ...set(13),
      ...i32(0),
      ...set(8),
      ...loop(8, get(4), i32(1), [
        ...get(13),
        ...F32_LOAD,
        ...F32X4_SPLAT,
        ...set(10),
        ...inc(13, get(6)),
        ...get(1),
        ...set(12),
        ...i32(0),
        ...set(9),
        ...loop(9, get(5), i32(16), [
          ...get(11),
          ...get(11),
          ...vload(),
          ...get(10),
          ...get(12),
          ...vload(),
          ...F32X4_MUL,
          ...F32X4_ADD,
          ...vstore(),
          ...inc(11, i32(16)),
          ...inc(12, i32(16)),
        ]),
      ]),
      ...inc(0, i32(4)),
      ...inc(1, get(5)),
    ]),
  ],
};

// Element-wise f32x4 loops; lengths in 4-float chunks, tails done by JS.
// binSame(a0, b1, out2, n4_3) locals i4: out = a (op) b
function binSame(name: string, op: number[]): Fn {
  return {
    name,
    params: 4,
    locals: [I32],
    body: [
      ...i32(0),
      ...set(4),
      ...loop(4, get(3), i32(1), [
        ...get(2),
        ...get(0),
        ...vload(),
        ...get(1),
        ...vload(),
        ...op,
        ...vstore(),
        ...inc(0, i32(16)),
        ...inc(1, i32(16)),
        ...inc(2, i32(16)),
      ]),
    ],
  };
}
// binRow(a0, b1, out2, rows3, cols4_4) locals r5 j6 bp7: out[r][c] = a[r][c] (op) b[c]
function binRow(name: string, op: number[]): Fn {
  return {
    name,
    params: 5,
    locals: [I32, I32, I32],
    body: [
      ...i32(0),
      ...set(5),
      ...loop(5, get(3), i32(1), [
        ...get(1),
        ...set(7),
        ...i32(0),
        ...set(6),
        ...loop(6, get(4), i32(1), [
          ...get(2),
          ...get(0),
          ...vload(),
          ...get(7),
          ...vload(),
          ...op,
          ...vstore(),
          ...inc(0, i32(16)),
          ...inc(7, i32(16)),
          ...inc(2, i32(16)),
        ]),
      ]),
    ],
  };
}
// step(x0, out1, n4_2, alphaBits3) locals i4 one5:v al6:v zero7:v v8:v
// out = x > 0 ? 1 : alpha, NaN stays NaN (as the cpu backend).
const step: Fn = {
  name: 'step',
  params: 4,
  locals: [I32, V128, V128, V128, V128],
  body: [
    ...f32c(1),
    ...F32X4_SPLAT,
    ...set(5),
    ...get(3),
    0xbe,
    ...F32X4_SPLAT,
    ...set(6),
    ...f32c(0),
    ...F32X4_SPLAT,
    ...set(7),
    ...i32(0),
    ...set(4),
    ...loop(4, get(2), i32(1), [
      ...get(0),
      ...vload(),
      ...set(8),
      ...get(1),
      ...get(8),
      ...get(5),
      ...get(6),
      ...get(8),
      ...get(7),
      ...F32X4_GT,
      ...BITSELECT,
      ...get(8),
      ...get(8),
      ...F32X4_NE,
      ...BITSELECT,
      ...vstore(),
      ...inc(0, i32(16)),
      ...inc(1, i32(16)),
    ]),
  ],
};
// relu(x0, out1, n4_2) locals i3 zero4:v v5:v: out = x < 0 ? 0 : x (NaN stays NaN)
const relu: Fn = {
  name: 'relu',
  params: 3,
  locals: [I32, V128, V128],
  body: [
    ...f32c(0),
    ...F32X4_SPLAT,
    ...set(4),
    ...i32(0),
    ...set(3),
    ...loop(3, get(2), i32(1), [
      ...get(0),
      ...vload(),
      ...set(5),
      ...get(1),
      ...get(4),
      ...get(5),
      ...get(5),
      ...get(4),
      ...F32X4_LT,
      ...BITSELECT,
      ...vstore(),
      ...inc(0, i32(16)),
      ...inc(1, i32(16)),
    ]),
  ],
};

// col2imRow(cols0, dxb1, offs2, taps3, cbytes4, count5, xstep6) locals w7 t8 ch9 d10
// for `count` positions: dx[dxb + offs[t] + ch] += cols[...] (cols sequential)
const col2imRow: Fn = {
  name: 'col2imRow',
  params: 7,
  locals: [I32, I32, I32, I32],
  body: [
    ...i32(0),
    ...set(7),
    ...loop(7, get(5), i32(1), [
      ...i32(0),
      ...set(8),
      ...loop(8, get(3), i32(1), [
        ...get(1),
        ...get(2),
        ...get(8),
        ...i32(4),
        ...MUL,
        ...ADD,
        ...I32_LOAD,
        ...ADD,
        ...set(10),
        ...i32(0),
        ...set(9),
        ...loop(9, get(4), i32(16), [
          ...get(10),
          ...get(10),
          ...vload(),
          ...get(0),
          ...vload(),
          ...F32X4_ADD,
          ...vstore(),
          ...inc(10, i32(16)),
          ...inc(0, i32(16)),
        ]),
      ]),
      ...inc(1, get(6)),
    ]),
  ],
};

// copyRunsOver(dst0, src1, nOuter2, outerStride3, nInner4, innerStride5, runLen6)
// locals a7 b8 e9 s10 d11. Contiguous runs copied as whole f32x4 vectors: up
// to 3 floats past each run are read and written; the next run overwrites
// them, so the caller needs 3 floats of slack after dst (and readable src).
const copyRunsOver: Fn = {
  name: 'copyRunsOver',
  params: 7,
  locals: [I32, I32, I32, I32, I32],
  body: [
    ...i32(0),
    ...set(7),
    ...loop(7, get(2), i32(1), [
      ...i32(0),
      ...set(8),
      ...loop(8, get(4), i32(1), [
        ...get(1),
        ...get(7),
        ...get(3),
        ...MUL,
        ...ADD,
        ...get(8),
        ...get(5),
        ...MUL,
        ...ADD,
        ...set(10),
        ...get(0),
        ...set(11),
        ...i32(0),
        ...set(9),
        ...loop(9, get(6), i32(4), [...get(11), ...get(10), ...vload(), ...vstore(), ...inc(11, i32(16)), ...inc(10, i32(16))]),
        ...inc(0, [...get(6), ...i32(4), ...MUL]),
      ]),
    ]),
  ],
};

// reluGrad(dy0, x1, out2, n4_3) locals i4 one5:v zero6:v v7:v
// out = dy * step(x) exactly as mul(dy, step(x)): step is 1 / 0 / NaN.
const reluGrad: Fn = {
  name: 'reluGrad',
  params: 4,
  locals: [I32, V128, V128, V128],
  body: [
    ...f32c(1),
    ...F32X4_SPLAT,
    ...set(5),
    ...f32c(0),
    ...F32X4_SPLAT,
    ...set(6),
    ...i32(0),
    ...set(4),
    ...loop(4, get(3), i32(1), [
      ...get(1),
      ...vload(),
      ...set(7),
      ...get(2),
      ...get(0),
      ...vload(),
      ...get(7),
      ...get(5),
      ...get(6),
      ...get(7),
      ...get(6),
      ...F32X4_GT,
      ...BITSELECT,
      ...get(7),
      ...get(7),
      ...F32X4_NE,
      ...BITSELECT,
      ...F32X4_MUL,
      ...vstore(),
      ...inc(0, i32(16)),
      ...inc(1, i32(16)),
      ...inc(2, i32(16)),
    ]),
  ],
};

// affineRow(x0, sub1, mul2, add3, out4, rows5, cols4_6) locals r7 c8 ps9 pm10 pa11
// out[r][c] = (x[r][c] - sub[c]) * mul[c] + add[c], rounded after each operation (f32x4 has no fused multiply-add).
const affineRow: Fn = {
  name: 'affineRow',
  params: 7,
  locals: [I32, I32, I32, I32, I32],
  body: [
    ...i32(0),
    ...set(7),
    ...loop(7, get(5), i32(1), [
      ...get(1),
      ...set(9),
      ...get(2),
      ...set(10),
      ...get(3),
      ...set(11),
      ...i32(0),
      ...set(8),
      ...loop(8, get(6), i32(1), [
        ...get(4),
        ...get(0),
        ...vload(),
        ...get(9),
        ...vload(),
        ...F32X4_SUB,
        ...get(10),
        ...vload(),
        ...F32X4_MUL,
        ...get(11),
        ...vload(),
        ...F32X4_ADD,
        ...vstore(),
        ...inc(0, i32(16)),
        ...inc(4, i32(16)),
        ...inc(9, i32(16)),
        ...inc(10, i32(16)),
        ...inc(11, i32(16)),
      ]),
    ]),
  ],
};

const FNS: Fn[] = [
  maxPoolTile,
  reluGrad,
  copyRunsOver,
  col2imRow,
  colsum,
  maxPoolRow,
  copyRuns,
  outerAcc,
  binSame('addSame', F32X4_ADD),
  binSame('subSame', F32X4_SUB),
  binSame('mulSame', F32X4_MUL),
  binRow('addRow', F32X4_ADD),
  binRow('subRow', F32X4_SUB),
  binRow('mulRow', F32X4_MUL),
  step,
  relu,
  affineRow,
];

export interface Simd {
  colsum(src: number, rows: number, chunks: number, acc: number): void;
  maxPoolRow(xb: number, dxDelta: number, gp: number, offs: number, k: number, cbytes: number, count: number, xstep: number): void;
  copyRuns(
    dst: number,
    src: number,
    nOuter: number,
    outerStride: number,
    nInner: number,
    innerStride: number,
    runLen: number,
    elemStride: number,
  ): void;
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
  copyRunsOver(dst: number, src: number, nOuter: number, outerStride: number, nInner: number, innerStride: number, runLen: number): void;
  reluGrad(dy: number, x: number, out: number, n4: number): void;
  maxPoolTile(xb: number, dxDelta: number, gp: number, offs: number, k: number, cbytes: number, count: number, xstep: number): void;
  affineRow(x: number, sub: number, mul: number, add: number, out: number, rows: number, cols4: number): void;
}

const cache = new WeakMap<WasmMemory, Simd | null>();
let compiled: WasmModule | null | undefined;
let disabled = process.env.PIXELSENSE_NO_SIMD === '1';

/** Turns the SIMD helpers off (tests use it to exercise the JS paths). */
export function setSimdEnabled(on: boolean): void {
  disabled = !on;
}

/** False under PIXELSENSE_NO_SIMD=1 or after setSimdEnabled(false). */
export function simdEnabled(): boolean {
  return !disabled;
}

/** The helpers bound to `backend`'s heap, or undefined (use plain JS). */
export function simdFor(backend: unknown): Simd | undefined {
  if (disabled) return undefined;
  const memory = (backend as { wasm?: { asm?: { memory?: unknown } } }).wasm?.asm?.memory;
  if (!(memory instanceof Wasm.Memory)) return undefined;
  let inst = cache.get(memory);
  if (inst === undefined) {
    try {
      if (compiled === undefined) compiled = new Wasm.Module(encodeModule(FNS));
      inst = compiled === null ? null : (new Wasm.Instance(compiled, { env: { memory } }).exports as unknown as Simd);
    } catch {
      compiled = null;
      inst = null;
    }
    cache.set(memory, inst);
  }
  return inst ?? undefined;
}
