/**
 * The decoded checkpoint's shape, checked with zod before any field is used.
 * A digest only proves the file is what was written; a file written by an
 * older or foreign writer (or crafted) can still carry a history that is not
 * an array, a missing elapsed time, a NaN step count or weights of another
 * model's size. Each of those used to crash late (after the export, before
 * metrics.json), turn the weights into NaN, or end as "internal error"; here
 * it is a CheckpointError naming the field, before the run directory is touched.
 */
import { z } from 'zod';

/** Float32 arrays travel as raw bytes (msgpackr gives Uint8Array views). */
const floatBytes = z.instanceof(Uint8Array).refine((b) => b.byteLength % 4 === 0, 'byte length is not a multiple of 4 (float32)');
const count = z.number().int().min(0);

/** One epoch record (stepEvent.ts EpochRecord); losses may legitimately be NaN in a diverged run, so only the position is checked. */
const epochRecord = z.looseObject({ step: count, epoch: z.number().min(0) });

export const checkpointSchema = z.looseObject({
  format: z.union([z.literal(1), z.literal(2)]),
  configHash: z.string().min(1),
  step: count,
  epoch: count,
  stepInEpoch: count,
  seed: z.number().int(),
  weights: floatBytes,
  optimizer: z.looseObject({ t: count, m: floatBytes, v: floatBytes }),
  history: z.array(epochRecord),
  elapsedSeconds: z.number().min(0),
  timeToTarget: z.number().min(0).nullable(),
  /** SHA-256 of the training data's content (data/datasetHash.ts); absent in checkpoints of older versions. */
  dataHash: z
    .string()
    .regex(/^[0-9a-f]{64}$/)
    .optional(),
  /** The backend the run resolved to ('wasm', 'tensorflow', 'cpu'); absent in older checkpoints. */
  backend: z.string().min(1).optional(),
});

export type DecodedCheckpoint = z.infer<typeof checkpointSchema>;

/** The first problem as `field: message`, for a one-line error. */
export function describeCheckpointIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  if (!issue) return 'invalid';
  const path = issue.path.map(String).join('.') || '(root)';
  return `${path}: ${issue.message}`;
}
