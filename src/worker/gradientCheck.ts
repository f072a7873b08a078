/**
 * Do two tfjs backends compute the same gradient? `auto` picks native
 * tfjs-node wherever it installs, and that path cannot be tested offline, so
 * before a run trusts it we compute one micro-batch's gradient on it and on
 * the wasm backend (the one the test suite exercises) and compare. Cost: one
 * forward/backward per backend, a fraction of a second even for the CNN.
 *
 * The functions take backend names and switch with tf.setBackend, so the
 * unit tests compare backends that are available everywhere (wasm, cpu and a
 * deliberately perturbed one).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { ModelPlan } from '../shared/modelPlan.js';
import { Rng } from '../shared/rng.js';
import { microBatchGradient, paramTensors } from './network.js';

/**
 * Largest gradient difference accepted, relative to the largest reference
 * gradient entry. Float32 backends that merely sum in a different order
 * agree to ~1e-6 here; a wrong kernel is off by far more than 1e-3.
 */
export const GRADIENT_TOLERANCE = 1e-3;

export interface CheckBatch {
  readonly pixels: Float32Array;
  readonly labels: Int32Array;
}

export interface GradientCheck {
  readonly candidate: string;
  readonly reference: string;
  /** max |candidate - reference| / max |reference| over every gradient entry. */
  readonly relativeDifference: number;
  readonly tolerance: number;
  readonly agree: boolean;
}

/** One micro-batch's gradient (every parameter, concatenated in plan order) on `backend`; dropout masks from a fixed seed. */
export async function gradientOn(backend: string, plan: ModelPlan, weights: Float32Array, batch: CheckBatch): Promise<Float32Array> {
  if (!(await tf.setBackend(backend))) throw new Error(`backend '${backend}' failed to initialise`);
  const params = paramTensors(plan, weights);
  try {
    const g = microBatchGradient(plan, params, batch.pixels, batch.labels, { labelSmoothing: 0, rng: new Rng(1) });
    const flat = new Float32Array(plan.paramCount);
    for (const [i, p] of plan.params.entries()) flat.set(g.gradients[i] as Float32Array, p.offset);
    return flat;
  } finally {
    tf.dispose(params);
  }
}

/** max |a - b| / max |b|; Infinity for a non-finite entry in `a` (a NaN must never pass). */
export function relativeDifference(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) throw new Error(`gradient sizes differ: ${a.length} vs ${b.length}`);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as number;
    const y = b[i] as number;
    if (!Number.isFinite(x)) return Infinity;
    diff = Math.max(diff, Math.abs(x - y));
    scale = Math.max(scale, Math.abs(y));
  }
  return scale === 0 ? diff : diff / scale;
}

/** Compare `candidate`'s gradient with `reference`'s on the same weights and batch. Both backends must be registered. */
export async function compareBackends(
  candidate: string,
  reference: string,
  plan: ModelPlan,
  weights: Float32Array,
  batch: CheckBatch,
  tolerance = GRADIENT_TOLERANCE,
): Promise<GradientCheck> {
  const want = await gradientOn(reference, plan, weights, batch);
  const got = await gradientOn(candidate, plan, weights, batch);
  const d = relativeDifference(got, want);
  return { candidate, reference, relativeDifference: d, tolerance, agree: d <= tolerance };
}
