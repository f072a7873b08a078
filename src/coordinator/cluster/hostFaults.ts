/**
 * Fault injection for the multi-host tests, read from PIXELSENSE_HOST_FAULT
 * by `pixelsense host` (like PIXELSENSE_FAULT for worker threads):
 *
 *   corrupt@STEP  send malformed gradients (4 bytes short) for STEP's micro-batches (0-based step)
 *   stall@STEP    never answer STEP's micro-batches (heartbeats go on): a hung or cut-off host;
 *                 prints `stalling step STEP` once, so a test can act on it
 *   delay:MS      wait MS ms before computing each micro-batch: a slow host
 *
 * Comma-separated; an unknown item is an error at start-up.
 */
export interface HostFaults {
  readonly corrupt: number | null;
  readonly stall: number | null;
  readonly delayMs: number;
}

export function parseHostFaults(spec: string | undefined): HostFaults {
  let corrupt: number | null = null;
  let stall: number | null = null;
  let delayMs = 0;
  for (const item of (spec ?? '').split(',').map((s) => s.trim()).filter(Boolean)) {
    const m = /^(corrupt|stall)@(\d+)$/.exec(item) ?? /^(delay):(\d+)$/.exec(item);
    if (!m) throw new Error(`PIXELSENSE_HOST_FAULT: '${item}' is not corrupt@STEP, stall@STEP or delay:MS`);
    const n = Number(m[2]);
    if (m[1] === 'corrupt') corrupt = n;
    else if (m[1] === 'stall') stall = n;
    else delayMs = n;
  }
  return { corrupt, stall, delayMs };
}
