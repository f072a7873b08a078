/**
 * `pixelsense bench --comm`: what it costs to move one gradient (the CNN's
 * size) from a worker thread to the coordinator, three ways:
 *
 *   shared    the design in use: the worker writes the gradient into a
 *             SharedArrayBuffer slot (Float32Array.set) and posts a tiny
 *             "done" message; the coordinator reads the slot in place.
 *   msgpackr  the alternative: the worker msgpackr-encodes {gradient} into
 *             its own buffer, transfers that buffer (postMessage transfer
 *             list, no clone) and the coordinator unpacks it.
 *   clone     for reference: postMessage of the Float32Array itself
 *             (structured clone, one copy each side).
 *
 * Each sample is one round trip timed on the coordinator: request message ->
 * worker moves the gradient -> reply -> gradient readable on the
 * coordinator. `empty` is the same round trip with no gradient (the message
 * latency every method pays). Methods are interleaved sample by sample, so
 * load from other processes hits them alike. The thread's side is
 * src/worker/commBench.ts.
 */
import { Worker } from 'node:worker_threads';
import { unpack } from 'msgpackr';
import { COMM_METHODS, type CommJob, type CommMethod, type CommReply, type CommRequest } from '../../shared/benchJobs.js';

export interface CommRow {
  method: CommMethod;
  /** Round trip per gradient, microseconds. */
  median_us: number;
  min_us: number;
  max_us: number;
  /** median_us per megabyte (10^6 bytes) of gradient; null for `empty`. */
  us_per_mb: number | null;
  /** The same beyond the empty round trip's median: what the data itself costs. */
  net_us_per_mb: number | null;
}

export interface CommResult {
  /** Parameters of the gradient moved (the CNN's paramCount) and its size in bytes. */
  params: number;
  bytes: number;
  samples: number;
  rows: CommRow[];
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};

/** Measure `samples` round trips per method (after `warmup` unmeasured ones) with a gradient of `params` floats. */
export async function measureComm(params: number, samples = 200, warmup = 20): Promise<CommResult> {
  const shared = new SharedArrayBuffer(params * Float32Array.BYTES_PER_ELEMENT);
  const slot = new Float32Array(shared);
  const worker = new Worker(new URL('../../worker/commBench.js', import.meta.url), { workerData: { params, shared } satisfies CommJob });
  const replies: ((r: CommReply) => void)[] = [];
  worker.on('message', (r: CommReply) => replies.shift()?.(r));
  const failed = new Promise<never>((_, reject) => {
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`comm bench thread exited with code ${code}`)));
  });
  const roundTrip = async (method: CommMethod, seq: number): Promise<number> => {
    const t0 = performance.now();
    const reply = new Promise<CommReply>((resolve) => replies.push(resolve));
    worker.postMessage({ method, seq } satisfies CommRequest);
    const r = await Promise.race([reply, failed]);
    // The gradient must be readable here; checking its first value also proves it arrived.
    let first: number | undefined = seq;
    if (method === 'shared') first = slot[0];
    else if (method === 'msgpackr') first = (unpack(r.payload as Uint8Array) as { gradient: Float32Array }).gradient[0];
    else if (method === 'clone') first = (r.payload as Float32Array)[0];
    const us = (performance.now() - t0) * 1000;
    if (first !== seq) throw new Error(`comm bench: ${method} delivered a stale gradient (${first} != ${seq})`);
    return us;
  };
  const times = new Map<CommMethod, number[]>(COMM_METHODS.map((m) => [m, []]));
  try {
    for (let i = 0; i < warmup + samples; i++) {
      for (const m of COMM_METHODS) {
        const us = await roundTrip(m, i);
        if (i >= warmup) times.get(m)?.push(us);
      }
    }
  } finally {
    worker.removeAllListeners('exit');
    await worker.terminate();
  }
  const bytes = params * Float32Array.BYTES_PER_ELEMENT;
  const latency = median(times.get('empty') ?? []);
  const rows = COMM_METHODS.map((method): CommRow => {
    const t = times.get(method) ?? [];
    const med = median(t);
    const data = method !== 'empty';
    return {
      method,
      median_us: med,
      min_us: Math.min(...t),
      max_us: Math.max(...t),
      us_per_mb: data ? med / (bytes / 1e6) : null,
      net_us_per_mb: data ? Math.max(0, med - latency) / (bytes / 1e6) : null,
    };
  });
  return { params, bytes, samples, rows };
}
