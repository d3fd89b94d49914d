/**
 * Eq. (1): M_n = 0 where s(θ_n) < γ, else 1, with γ the score that leaves
 * exactly `keep` weights. Weights with the highest scores are kept. Ties at
 * the threshold are broken deterministically: the lower flat index is kept.
 */
export function keepTopScores(scores: Float32Array, keep: number): Uint8Array {
  const n = scores.length;
  if (!Number.isInteger(keep) || keep < 0 || keep > n) throw new RangeError(`cannot keep ${keep} of ${n} weights`);
  for (let i = 0; i < n; i++) if (Number.isNaN(scores[i])) throw new Error(`score ${i} is NaN`);
  const mask = new Uint8Array(n);
  if (keep === 0) return mask;
  if (keep === n) return mask.fill(1);
  // γ: the keep-th largest score (typed-array sort is numeric and fast).
  const sorted = Float32Array.from(scores).sort();
  const threshold = sorted[n - keep]!;
  let kept = 0;
  for (let i = 0; i < n; i++) {
    if (scores[i]! > threshold) {
      mask[i] = 1;
      kept++;
    }
  }
  for (let i = 0; i < n && kept < keep; i++) {
    if (scores[i] === threshold) {
      mask[i] = 1;
      kept++;
    }
  }
  return mask;
}

export type Scores = ReadonlyMap<string, Float32Array>;
export type MaskArrays = Map<string, Uint8Array>;

/** Global scope: one threshold across all prunable tensors. */
export function globalMasks(scores: Scores, keep: number): MaskArrays {
  const names = [...scores.keys()];
  const all = new Float32Array(names.reduce((sum, name) => sum + scores.get(name)!.length, 0));
  let offset = 0;
  for (const name of names) {
    all.set(scores.get(name)!, offset);
    offset += scores.get(name)!.length;
  }
  const flat = keepTopScores(all, keep);
  const masks: MaskArrays = new Map();
  offset = 0;
  for (const name of names) {
    const size = scores.get(name)!.length;
    masks.set(name, flat.slice(offset, offset + size));
    offset += size;
  }
  return masks;
}

/** Layer scope: the same kept fraction in every tensor; counts add up to `keep` exactly. */
export function layerwiseMasks(scores: Scores, keep: number, apportion: (sizes: number[], keep: number) => number[]): MaskArrays {
  const names = [...scores.keys()];
  const perLayer = apportion(names.map((name) => scores.get(name)!.length), keep);
  return new Map(names.map((name, i) => [name, keepTopScores(scores.get(name)!, perLayer[i]!)]));
}
