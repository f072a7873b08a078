/**
 * Learning-rate schedules as pure functions of the global step. Linear
 * warmup (warmupEpochs) applies to every schedule except 'onecycle', which
 * has its own rising phase (pctStart).
 */
import type { Config } from '../../shared/config.js';

export interface ScheduleContext {
  readonly lr: number;
  readonly stepsPerEpoch: number;
  readonly totalSteps: number;
}

/** Learning rate for global step `step` (0-based). */
export function learningRate(s: Config['schedule'], ctx: ScheduleContext, step: number): number {
  const { lr, stepsPerEpoch, totalSteps } = ctx;
  const total = Math.max(1, totalSteps);
  if (s.name === 'onecycle') {
    // Cosine up from lr/25 to lr over pctStart of the run, then cosine down to lr*minLrFactor.
    const up = Math.max(1, Math.round(s.pctStart * total));
    const start = lr / 25;
    const end = lr * s.minLrFactor;
    if (step < up) return cosineBetween(start, lr, step / up);
    return cosineBetween(lr, end, Math.min(1, (step - up) / Math.max(1, total - up)));
  }
  const warmup = Math.round(s.warmupEpochs * stepsPerEpoch);
  if (step < warmup) return (lr * (step + 1)) / warmup;
  switch (s.name) {
    case 'constant':
      return lr;
    case 'step':
      return lr * s.gamma ** Math.floor(step / Math.max(1, Math.round(s.stepEpochs * stepsPerEpoch)));
    case 'cosine': {
      const progress = Math.min(1, (step - warmup) / Math.max(1, total - warmup));
      return cosineBetween(lr, lr * s.minLrFactor, progress);
    }
  }
}

/** schedule.cycleMomentum: the momentum's lowest and highest values (PyTorch OneCycleLR's defaults). */
export const CYCLE_MOMENTUM = { base: 0.85, max: 0.95 } as const;

/**
 * The momentum for step `step` under schedule.cycleMomentum ('onecycle'):
 * cosine from 0.95 down to 0.85 while the lr rises, then back up; null when
 * the momentum does not follow the schedule (the optimizer's own is used).
 */
export function momentumAt(s: Config['schedule'], ctx: ScheduleContext, step: number): number | null {
  if (s.name !== 'onecycle' || !s.cycleMomentum) return null;
  const total = Math.max(1, ctx.totalSteps);
  const up = Math.max(1, Math.round(s.pctStart * total));
  const { base, max } = CYCLE_MOMENTUM;
  if (step < up) return cosineBetween(max, base, step / up);
  return cosineBetween(base, max, Math.min(1, (step - up) / Math.max(1, total - up)));
}

/** From a (progress 0) to b (progress 1) along half a cosine. */
function cosineBetween(a: number, b: number, progress: number): number {
  return b + (a - b) * 0.5 * (1 + Math.cos(Math.PI * progress));
}
