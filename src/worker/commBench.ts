/**
 * The thread side of `pixelsense bench --comm` (launcher and method
 * descriptions: src/coordinator/bench/commBench.ts): holds a gradient of
 * `params` floats and moves it to the coordinator the requested way.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { pack } from 'msgpackr';
import type { CommJob, CommReply, CommRequest } from '../shared/benchJobs.js';

const job = workerData as CommJob;
const gradient = new Float32Array(job.params);
for (let i = 0; i < gradient.length; i++) gradient[i] = Math.sin(i) * 1e-3;
const slot = new Float32Array(job.shared);

parentPort?.on('message', ({ method, seq }: CommRequest) => {
  const port = parentPort;
  if (!port) return;
  gradient[0] = seq;
  switch (method) {
    case 'empty':
      port.postMessage({ seq } satisfies CommReply);
      break;
    case 'shared':
      slot.set(gradient);
      port.postMessage({ seq } satisfies CommReply);
      break;
    case 'msgpackr': {
      // pack() returns a view into msgpackr's reusable buffer: copy it out to own (and transfer) it.
      const packed = pack({ gradient });
      const owned = new Uint8Array(packed.byteLength);
      owned.set(packed);
      port.postMessage({ seq, payload: owned } satisfies CommReply, [owned.buffer]);
      break;
    }
    case 'clone':
      port.postMessage({ seq, payload: gradient } satisfies CommReply);
      break;
  }
});
