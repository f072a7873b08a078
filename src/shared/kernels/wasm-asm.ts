/**
 * A minimal WebAssembly binary encoder for the SIMD helpers in simd.ts:
 * LEB128, the handful of (SIMD) instructions they use, counted loops, and a
 * module with one imported memory ("env"."memory", optionally shared) and
 * exported functions whose parameters are all i32. Opcodes are from the
 * WebAssembly 2.0 (SIMD) specification and the threads proposal (shared
 * memory limits).
 */

export interface Fn {
  name: string;
  params: number;
  locals: number[];
  body: number[];
}

// The project compiles with lib ES2022 only (no DOM), which has no
// WebAssembly typings: the three classes the kernels use, typed once here.
export interface WasmMemory {
  readonly buffer: ArrayBuffer | SharedArrayBuffer;
}
export interface WasmModule {
  readonly __brand: 'WebAssembly.Module';
}
interface WasmApi {
  Memory: new (descriptor: { initial: number; maximum?: number; shared?: boolean }) => WasmMemory;
  Module: new (bytes: Uint8Array) => WasmModule;
  Instance: new (module: WasmModule, imports: object) => { readonly exports: object };
}
export const Wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

export const I32 = 0x7f;
export const V128 = 0x7b;

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
    if ((v === 0 && (b & 0x40) === 0) || (v === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}

export const simd = (code: number, ...imm: number[]): number[] => [0xfd, ...uleb(code), ...imm];
// Instruction helpers (subset). Memory immediates: align (log2), offset.
export const get = (i: number): number[] => [0x20, ...uleb(i)];
export const set = (i: number): number[] => [0x21, ...uleb(i)];
export const i32 = (v: number): number[] => [0x41, ...sleb(v)];
export const f32c = (v: number): number[] => [0x43, ...new Uint8Array(new Float32Array([v]).buffer)];
export const ADD = [0x6a],
  MUL = [0x6c],
  GE_S = [0x4e],
  NE = [0x47];
export const I32_LOAD = [0x28, 2, 0],
  F32_LOAD = [0x2a, 2, 0],
  F32_STORE = [0x38, 2, 0],
  F32_ADD = [0x92];
export const vload = (off = 0): number[] => simd(0x00, 0, ...uleb(off));
export const vstore = (off = 0): number[] => simd(0x0b, 0, ...uleb(off));
export const F32X4_SPLAT = simd(0x13),
  I32X4_SPLAT = simd(0x11),
  F32X4_GT = simd(0x44),
  BITSELECT = simd(0x52);
export const F32X4_ADD = simd(0xe4),
  F32X4_MUL = simd(0xe6),
  F64X2_ADD = simd(0xf0),
  F64X2_PROMOTE_LOW = simd(0x5f);
export const F32X4_SQRT = simd(0xe3),
  F32X4_DIV = simd(0xe7);
export const F32X4_SUB = simd(0xe5),
  F32X4_NE = simd(0x42),
  F32X4_LT = simd(0x43),
  I32X4_EQ = simd(0x37);
/** i8x16.shuffle moving the high 64 bits to the low half (for promote_low). */
export const HIGH_TO_LOW = simd(0x0d, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7);
export const I32_SHL = [0x74],
  F64_LOAD = [0x2b, 3, 0];
export const vload64Splat = (off = 0): number[] => simd(0x0a, 0, ...uleb(off));
export const vload32Splat = (off = 0): number[] => simd(0x09, 0, ...uleb(off));
export const F64X2_SPLAT = simd(0x14),
  F32X4_DEMOTE_F64X2_ZERO = simd(0x5e);
export const F64X2_SQRT = simd(0xef),
  F64X2_SUB = simd(0xf1),
  F64X2_MUL = simd(0xf2),
  F64X2_DIV = simd(0xf3);
/** i8x16.shuffle: the low 64 bits of the first operand, then the low 64 bits of the second. */
export const LOW_LOW = simd(0x0d, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23);
/** v128.const of all-zero bits (f64x2 +0.0, +0.0). */
export const V128_ZERO = simd(0x0c, ...new Array<number>(16).fill(0));
export const i32x4Lane = (l: number): number[] => simd(0x1b, l);
export const f32x4Lane = (l: number): number[] => simd(0x1f, l);
export const inc = (local: number, by: number[]): number[] => [...get(local), ...by, ...ADD, ...set(local)];

/** `while (counter < limit) { body; counter += step }` as block/loop. */
export function loop(counter: number, limit: number[], step: number[], body: number[]): number[] {
  return [0x02, 0x40, 0x03, 0x40, ...get(counter), ...limit, ...GE_S, 0x0d, 1, ...body, ...inc(counter, step), 0x0c, 0, 0x0b, 0x0b];
}

function section(id: number, payload: number[]): number[] {
  return [id, ...uleb(payload.length), ...payload];
}

function vec(items: number[][]): number[] {
  return [...uleb(items.length), ...items.flat()];
}

/**
 * The module: types, memory import, functions, exports, code. A shared
 * memory import must declare a maximum: the largest a 32-bit memory can be
 * (65536 pages), so any shared memory the caller made fits.
 */
export function encodeModule(fns: Fn[], opts: { sharedMemory?: boolean } = {}): Uint8Array {
  const name = (s: string): number[] => [...uleb(s.length), ...new TextEncoder().encode(s)];
  const types = vec(fns.map((f) => [0x60, ...vec(Array.from({ length: f.params }, () => [I32])), 0]));
  const limits = opts.sharedMemory ? [0x03, 0x01, ...uleb(65536)] : [0x00, 0x01];
  const imports = vec([[...name('env'), ...name('memory'), 0x02, ...limits]]);
  const funcs = vec(fns.map((_, i) => uleb(i)));
  const exports = vec(fns.map((f, i) => [...name(f.name), 0x00, ...uleb(i)]));
  const bodies = vec(
    fns.map((f) => {
      const locals = vec(f.locals.map((t) => [1, t]));
      const body = [...locals, ...f.body, 0x0b];
      return [...uleb(body.length), ...body];
    }),
  );
  return new Uint8Array([
    0x00,
    0x61,
    0x73,
    0x6d,
    0x01,
    0x00,
    0x00,
    0x00,
    ...section(1, types),
    ...section(2, imports),
    ...section(3, funcs),
    ...section(7, exports),
    ...section(10, bodies),
  ]);
}
