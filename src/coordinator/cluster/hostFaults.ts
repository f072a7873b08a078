/**
 * Fault injection for the multi-host tests, read from PIXELSENSE_HOST_FAULT
 * by `pixelsense host` (like PIXELSENSE_FAULT for worker threads):
 *
 *   corrupt@STEP  send malformed gradients (4 bytes short) for STEP's micro-batches (0-based step)
 *   stall@STEP    never answer STEP's micro-batches (heartbeats go on): a hung or cut-off host;
 *                 prints `stalling step STEP` once, so a test can act on it
 *   delay:MS      wait MS ms before computing each micro-batch: a slow host
 *   hold@STEP=FILE  before computing STEP's micro-batches, wait until FILE exists (prints
 *                 `holding step STEP`): lets a test act while the run is certainly mid-step
 *
 * Comma-separated; an unknown item is an error at start-up.
 */
export interface HostFaults {
  readonly corrupt: number | null;
  readonly stall: number | null;
  readonly delayMs: number;
  readonly hold: { step: number; file: string } | null;
}

export function parseHostFaults(spec: string | undefined): HostFaults {
  let corrupt: number | null = null;
  let stall: number | null = null;
  let delayMs = 0;
  let hold: HostFaults['hold'] = null;
  for (const item of (spec ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const h = /^hold@(\d+)=(.+)$/.exec(item);
    if (h) {
      hold = { step: Number(h[1]), file: h[2] as string };
      continue;
    }
    const m = /^(corrupt|stall)@(\d+)$/.exec(item) ?? /^(delay):(\d+)$/.exec(item);
    if (!m) throw new Error(`PIXELSENSE_HOST_FAULT: '${item}' is not corrupt@STEP, stall@STEP, delay:MS or hold@STEP=FILE`);
    const n = Number(m[2]);
    if (m[1] === 'corrupt') corrupt = n;
    else if (m[1] === 'stall') stall = n;
    else delayMs = n;
  }
  return { corrupt, stall, delayMs, hold };
}
