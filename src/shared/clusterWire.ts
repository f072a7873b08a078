/**
 * The wire contract between a coordinator and its remote hosts (over NATS),
 * beside messages.ts (the thread contract). Every NATS payload is one frame:
 *
 *   [u32 little-endian header length][header: JSON, at most MAX_HEADER_BYTES][body: raw bytes]
 *
 * The header is a small discriminated record (`kind`), validated with zod on
 * receipt; the body carries tensors as raw little-endian float32 bytes (never
 * msgpack or JSON arrays: a 900 KiB gradient stays 900 KiB and costs one
 * memcpy to place). A logical message larger than the server's max_payload
 * is cut into chunk frames, each carrying the same header plus
 * `chunk: {id, offset, total}`; Reassembler puts them back together. Nothing
 * received is ever evaluated: JSON.parse, then a strict schema, then size
 * checks against what the receiver expects.
 */
import { endianness } from 'node:os';
import { z } from 'zod';

/**
 * Bumped when a frame's meaning changes; a host with another wire version is refused like another PixelSense version.
 * 2: the weights of a step come once on the run's weights subject (subjects.weights), not once per host.
 */
export const WIRE_VERSION = 2;
/** A header larger than this is malformed (the biggest, `start`, carries the config: a few KiB). */
export const MAX_HEADER_BYTES = 64 * 1024;
/** Room kept for the header in every chunk frame. */
const CHUNK_HEADER_ROOM = 1024;

const ident = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/);
const nat = z
  .number()
  .int()
  .min(0)
  .max(2 ** 31 - 1);
const text = (max: number) => z.string().max(max);
const chunk = z.strictObject({ id: ident, offset: nat, total: nat });

/** Host -> everyone, every HEARTBEAT_MS on `<cluster>.heartbeat`. `run` is the run it serves, null when idle. */
const heartbeat = z.strictObject({
  kind: z.literal('heartbeat'),
  host: ident,
  name: text(128),
  version: text(64),
  workers: z.number().int().min(1).max(256),
  run: ident.nullable(),
});
/** Host -> everyone on SIGINT/SIGTERM: it leaves now (no need to wait for the timeout). */
const bye = z.strictObject({ kind: z.literal('bye'), host: ident });
/** Coordinator -> host (request): who are you, for this data? The host answers `hello`. */
const join = z.strictObject({ kind: z.literal('join'), run: ident, version: text(64), wire: nat, trainCount: nat, testCount: nat });
/** Host -> coordinator (reply to join): its version and the content hash of the data prefix the run uses (null if it lacks that much data). */
const hello = z.strictObject({
  kind: z.literal('hello'),
  host: ident,
  version: text(64),
  wire: nat,
  dataHash: z
    .string()
    .regex(/^[0-9a-f]{64}$/)
    .nullable(),
  note: text(500).optional(),
});
/** Coordinator -> host (request): start a pool for this run. `config` is validated by the host with the config schema. */
const start = z.strictObject({
  kind: z.literal('start'),
  run: ident,
  config: z.unknown(),
  backend: z.enum(['auto', 'tensorflow', 'wasm', 'cpu']),
  trainCount: nat,
  testCount: nat,
});
/** Host -> coordinator (reply to start). */
const ready = z.strictObject({ kind: z.literal('ready'), host: ident, workers: z.number().int().min(1).max(256), backend: text(64) });
/** Either side (reply to a request it cannot honour). */
const failed = z.strictObject({ kind: z.literal('failed'), reason: text(500) });
/** Coordinator -> host: not admitted; the host exits 2 with `reason`. */
const refuse = z.strictObject({ kind: z.literal('refuse'), run: ident, reason: text(500) });
/**
 * Coordinator -> hosts: the weights (params then batch-norm state) of `step`; body = floats * 4 bytes. Published
 * once per step on subjects.weights for every host of the run, and on a host's own subject for one admitted after that.
 */
const weights = z.strictObject({ kind: z.literal('weights'), run: ident, step: nat, floats: nat, chunk: chunk.optional() });
/** Coordinator -> host: compute one micro-batch of `step` (examples order[start .. start+count) of `epoch`'s permutation). */
const task = z.strictObject({
  kind: z.literal('task'),
  run: ident,
  step: nat,
  epoch: nat,
  index: nat,
  start: nat,
  count: z.number().int().min(1).max(8192),
});
/** Coordinator -> host, every second while a run lasts: a host whose coordinator falls silent drops the run. */
const beat = z.strictObject({ kind: z.literal('beat'), run: ident });
/** Coordinator -> host: the run is over; close the pool, stay up. */
const end = z.strictObject({ kind: z.literal('end'), run: ident });
/** Host -> coordinator: one micro-batch's gradient (gradFloats) then batch-norm statistics (statFloats), as float32 bytes. */
const result = z.strictObject({
  kind: z.literal('result'),
  run: ident,
  host: ident,
  step: nat,
  index: nat,
  loss: z.number().finite(),
  correct: nat,
  count: nat,
  computeSeconds: z.number().min(0).max(86400),
  numTensors: nat,
  gradFloats: nat,
  statFloats: nat,
  chunk: chunk.optional(),
});
/** Host -> coordinator: its pool gave up on a micro-batch; the coordinator computes it elsewhere. */
const taskFailed = z.strictObject({ kind: z.literal('taskFailed'), run: ident, host: ident, step: nat, index: nat, error: text(500) });

export const wireHeader = z.discriminatedUnion('kind', [
  heartbeat,
  bye,
  join,
  hello,
  start,
  ready,
  failed,
  refuse,
  weights,
  task,
  beat,
  end,
  result,
  taskFailed,
]);
export type WireHeader = z.infer<typeof wireHeader>;
export type WireOf<K extends WireHeader['kind']> = Extract<WireHeader, { kind: K }>;
export type Chunk = z.infer<typeof chunk>;

/** A frame that does not parse or validate: counted and logged by the receiver, never thrown past it. */
export class WireError extends Error {}

const LITTLE_ENDIAN = endianness() === 'LE';
const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder('utf-8', { fatal: true });

/** Throws on a big-endian machine: bodies are the machine's own float32 bytes, defined as little-endian on the wire. */
export function assertLittleEndian(): void {
  if (!LITTLE_ENDIAN)
    throw new Error('multi-host training needs a little-endian machine (the wire carries float32 as little-endian bytes)');
}

/**
 * A body given as consecutive parts (a gradient and its batch-norm
 * statistics, say): written straight into the frame, so the sender never
 * builds the joined body first (one 0.9 MB copy and allocation fewer per
 * message; nats.js copies the frame once more into its outbound buffer).
 */
export type Body = Uint8Array | readonly Uint8Array[];

const partsOf = (body: Body | undefined): readonly Uint8Array[] => (body === undefined ? [] : body instanceof Uint8Array ? [body] : body);
const lengthOf = (parts: readonly Uint8Array[]): number => parts.reduce((n, p) => n + p.length, 0);

/** Copy bytes [from, to) of the parts, taken as one run of bytes, into `out` at `at`. */
function copyRange(parts: readonly Uint8Array[], from: number, to: number, out: Uint8Array, at: number): void {
  let base = 0;
  for (const p of parts) {
    const a = Math.max(from, base);
    const b = Math.min(to, base + p.length);
    if (a < b) out.set(p.subarray(a - base, b - base), at + a - from);
    base += p.length;
    if (base >= to) return;
  }
}

const headerBytes = (header: WireHeader): Uint8Array => utf8.encode(JSON.stringify(header));

/** `h`: the header's UTF-8 JSON, encoded once by the caller (encodeMessage needs its length first). */
function frameOf(h: Uint8Array, parts: readonly Uint8Array[], from: number, to: number): Uint8Array {
  const out = new Uint8Array(4 + h.length + (to - from));
  new DataView(out.buffer).setUint32(0, h.length, true);
  out.set(h, 4);
  copyRange(parts, from, to, out, 4 + h.length);
  return out;
}

/** One frame: header then body, in a fresh buffer of exactly its size. */
export function encodeFrame(header: WireHeader, body?: Body): Uint8Array {
  const parts = partsOf(body);
  return frameOf(headerBytes(header), parts, 0, lengthOf(parts));
}

/**
 * A logical message as the frames to publish: one when it fits in
 * `maxPayload`, else chunks of the body (each frame <= maxPayload).
 */
export function encodeMessage(header: WireHeader, body: Body, maxPayload: number, chunkId: string): Uint8Array[] {
  const parts = partsOf(body);
  const total = lengthOf(parts);
  const h = headerBytes(header);
  if (4 + h.length + total <= maxPayload) return [frameOf(h, parts, 0, total)];
  const piece = maxPayload - CHUNK_HEADER_ROOM;
  if (piece < 1024) throw new Error(`max_payload ${maxPayload} is too small to carry chunks`);
  const frames: Uint8Array[] = [];
  for (let offset = 0; offset < total; offset += piece) {
    const c = { id: chunkId, offset, total };
    frames.push(frameOf(headerBytes({ ...header, chunk: c } as WireHeader), parts, offset, Math.min(total, offset + piece)));
  }
  return frames;
}

/** Parse and validate one frame. Throws WireError (with a short reason) on anything malformed. */
export function decodeFrame(bytes: Uint8Array, maxFrameBytes: number): { header: WireHeader; body: Uint8Array } {
  if (bytes.length > maxFrameBytes) throw new WireError(`frame of ${bytes.length} bytes exceeds ${maxFrameBytes}`);
  if (bytes.length < 4) throw new WireError(`frame of ${bytes.length} bytes is shorter than its length prefix`);
  const headerLength = new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0, true);
  if (headerLength > MAX_HEADER_BYTES || headerLength > bytes.length - 4)
    throw new WireError(`header length ${headerLength} is out of range`);
  let raw: unknown;
  try {
    raw = JSON.parse(fromUtf8.decode(bytes.subarray(4, 4 + headerLength)));
  } catch {
    throw new WireError('header is not UTF-8 JSON');
  }
  const parsed = wireHeader.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new WireError(
      `header does not validate: ${issue ? `${issue.path.join('.') || '(root)'}: ${issue.message}` : 'invalid'}`.slice(0, 300),
    );
  }
  return { header: parsed.data, body: bytes.subarray(4 + headerLength) };
}

/**
 * Puts chunked messages back together. `maxBody` says how many body bytes a
 * header may announce (known in advance: the model's size), so a hostile
 * `total` never allocates more than that. A few assemblies at most are kept
 * (oldest dropped): an abandoned one costs memory, not correctness.
 */
export class Reassembler {
  private readonly open = new Map<string, { body: Uint8Array; received: number; offsets: Set<number> }>();

  constructor(
    private readonly maxBody: (header: WireHeader) => number,
    private readonly maxOpen = 16,
  ) {}

  /** Returns the whole message when this frame completes it (or is not a chunk); null while parts are missing. */
  add(key: string, header: WireHeader, body: Uint8Array): { header: WireHeader; body: Uint8Array } | null {
    const c = 'chunk' in header ? header.chunk : undefined;
    const limit = this.maxBody(header);
    if (!c) {
      if (body.length > limit) throw new WireError(`body of ${body.length} bytes exceeds ${limit} for '${header.kind}'`);
      return { header, body };
    }
    if (c.total > limit) throw new WireError(`chunked body of ${c.total} bytes exceeds ${limit} for '${header.kind}'`);
    if (c.offset + body.length > c.total || body.length === 0)
      throw new WireError(`chunk at ${c.offset} (+${body.length}) overruns ${c.total}`);
    const id = `${key}/${c.id}`;
    let a = this.open.get(id);
    if (!a) {
      a = { body: new Uint8Array(c.total), received: 0, offsets: new Set() };
      this.open.set(id, a);
      if (this.open.size > this.maxOpen) this.open.delete(this.open.keys().next().value as string);
    }
    if (a.body.length !== c.total) throw new WireError(`chunk total ${c.total} disagrees with ${a.body.length}`);
    if (a.offsets.has(c.offset)) throw new WireError(`duplicate chunk at ${c.offset}`);
    a.offsets.add(c.offset);
    a.body.set(body, c.offset);
    a.received += body.length;
    if (a.received < c.total) return null;
    this.open.delete(id);
    if (a.received !== c.total) throw new WireError(`chunks add up to ${a.received} bytes, not ${c.total}`);
    const { chunk: _chunk, ...whole } = header as WireHeader & { chunk?: Chunk };
    return { header: whole as WireHeader, body: a.body };
  }

  clear(): void {
    this.open.clear();
  }
}

/** The bytes of a float32 view (no copy). */
export function floatBytes(f: Float32Array): Uint8Array {
  return new Uint8Array(f.buffer, f.byteOffset, f.byteLength);
}

/** Subjects, all under the cluster's prefix so two clusters can share one server. */
export const subjects = {
  heartbeat: (cluster: string) => `${cluster}.heartbeat`,
  host: (cluster: string, host: string) => `${cluster}.host.${host}`,
  beat: (cluster: string, run: string) => `${cluster}.run.${run}.beat`,
  result: (cluster: string, run: string, host: string) => `${cluster}.run.${run}.result.${host}`,
  /** The run's weights, published once per step for every host serving the run (nats-server fans them out). */
  weights: (cluster: string, run: string) => `${cluster}.run.${run}.weights`,
  results: (cluster: string, run: string) => `${cluster}.run.${run}.result.*`,
};

/** How often a host announces itself. */
export const HEARTBEAT_MS = 500;
