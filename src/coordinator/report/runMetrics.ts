/**
 * A run directory as the report reads it: metrics.json's schema (validated
 * with zod, since the file may come from another version or another machine)
 * and the Run record both report.ts and reportPages.ts use.
 */
import { z } from 'zod';
import { NUM_CLASSES } from '../../shared/dataset.js';

const num = z.number();
const optNum = num.nullable().optional();
const ClassSchema = z.object({ label: num, name: z.string(), precision: num, recall: num, f1: num, support: num });
const EvalSchema = z.object({
  accuracy: num,
  loss: num,
  count: optNum,
  per_class: z.array(ClassSchema).length(NUM_CLASSES),
  macro_f1: num,
  weighted_f1: optNum,
  confusion: z.array(z.array(num).length(NUM_CLASSES)).length(NUM_CLASSES),
});
const HistorySchema = z.object({
  epoch: num,
  train_loss: optNum,
  train_accuracy: optNum,
  test_loss: optNum,
  test_accuracy: optNum,
});
export const MetricsSchema = z.object({
  model: z.string(),
  backend: z.string().optional(),
  workers: optNum,
  epochs: optNum,
  steps: optNum,
  examples_per_sec: optNum,
  wall_s: optNum,
  time_to_target_s: optNum,
  test: EvalSchema,
  history: z.array(HistorySchema).default([]),
});

export type RunMetrics = z.infer<typeof MetricsSchema>;

export interface Run {
  dir: string;
  /** Unique short name for legends and tables: the directory's base name. */
  label: string;
  metrics: RunMetrics;
}
