import type { AdversarialSet } from "../attacks/adversarial-set.js";

/** Accuracy with exact counts. */
export interface Accuracy {
  correct: number;
  total: number;
  accuracy: number;
}

export function accuracyOf(predictions: ArrayLike<number>, labels: ArrayLike<number>): Accuracy {
  if (predictions.length !== labels.length) throw new Error(`${predictions.length} predictions for ${labels.length} labels`);
  let correct = 0;
  for (let i = 0; i < labels.length; i++) if (predictions[i] === labels[i]) correct++;
  return { correct, total: labels.length, accuracy: labels.length ? correct / labels.length : 0 };
}

/**
 * Transfer accuracy: a set made on the unpruned (source) model, scored on
 * the pruned or quantized (target) model. "Both correct" counts inputs that
 * the source and the target both classify correctly, as the reference code records.
 */
export function transferAccuracy(set: AdversarialSet, targetPredictions: ArrayLike<number>): Accuracy & { bothCorrect: number } {
  const target = accuracyOf(targetPredictions, set.labels);
  let bothCorrect = 0;
  for (let i = 0; i < set.count; i++) {
    if (targetPredictions[i] === set.labels[i] && set.adversarialPredictions[i] === set.labels[i]) bothCorrect++;
  }
  return { ...target, bothCorrect };
}

/** Overlap of two masks over the same tensors: Jaccard of the kept sets and the count kept in both. */
export function maskOverlap(a: ReadonlyMap<string, Uint8Array>, b: ReadonlyMap<string, Uint8Array>) {
  let keptBoth = 0;
  let keptEither = 0;
  let keptA = 0;
  let keptB = 0;
  for (const [name, maskA] of a) {
    const maskB = b.get(name);
    if (!maskB || maskB.length !== maskA.length) throw new Error(`masks differ in tensor ${name}`);
    for (let i = 0; i < maskA.length; i++) {
      keptA += maskA[i]!;
      keptB += maskB[i]!;
      if (maskA[i] && maskB[i]) keptBoth++;
      if (maskA[i] || maskB[i]) keptEither++;
    }
  }
  if (b.size !== a.size) throw new Error("masks cover different tensors");
  return { keptBoth, keptEither, keptA, keptB, jaccard: keptEither ? keptBoth / keptEither : 1 };
}

export interface Histogram {
  /** bins + 1 edges, from min to max. */
  edges: number[];
  counts: number[];
}

/** Histogram of the kept weight values (Fig. 1 of the paper); with no mask, of all values. */
export function weightHistogram(
  weights: ReadonlyMap<string, Float32Array>,
  masks: ReadonlyMap<string, Uint8Array> | undefined,
  { bins, min, max }: { bins: number; min: number; max: number },
): Histogram {
  const counts = new Array<number>(bins).fill(0);
  const width = (max - min) / bins;
  for (const [name, values] of weights) {
    const mask = masks?.get(name);
    if (masks && !mask) continue;
    for (let i = 0; i < values.length; i++) {
      if (mask && !mask[i]) continue;
      const v = values[i]!;
      if (v < min || v > max) continue;
      counts[Math.min(bins - 1, Math.floor((v - min) / width))]!++;
    }
  }
  return { edges: Array.from({ length: bins + 1 }, (_, i) => min + i * width), counts };
}
