/**
 * Atomics.waitAsync, typed: in V8 since Node 16, newer than this project's
 * TypeScript lib. Waits without blocking the thread's event loop.
 */
type WaitAsync = (
  a: Int32Array,
  index: number,
  value: number,
  timeoutMs?: number,
) => { async: false; value: 'not-equal' | 'timed-out' } | { async: true; value: Promise<'ok' | 'timed-out'> };

export const waitAsync: WaitAsync = (a, index, value, timeoutMs) =>
  (Atomics as unknown as { waitAsync: WaitAsync }).waitAsync(a, index, value, timeoutMs);
