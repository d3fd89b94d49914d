import type { Masks } from "@gap/ml-core";

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
  // γ: the keep-th largest score, by selection (sorting vgg_bn_drop's 15M scores took 2.3 s).
  const threshold = kthSmallest(Float32Array.from(scores), n - keep);
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

/**
 * The k-th smallest value (0-based) of `values`, which it reorders: quickselect
 * with a median-of-three pivot and Hoare partitioning (runs of equal values
 * split evenly), O(n) on average. -0 and +0 compare equal, as in eq. (1)'s tests.
 */
export function kthSmallest(values: Float32Array, k: number): number {
  if (!(Number.isInteger(k) && k >= 0 && k < values.length)) throw new RangeError(`no element ${k} in ${values.length} values`);
  let lo = 0;
  let hi = values.length - 1;
  while (lo < hi) {
    const mid = lo + ((hi - lo) >> 1);
    const [a, b, c] = [values[lo]!, values[mid]!, values[hi]!];
    const pivot = a < b ? (b < c ? b : a < c ? c : a) : a < c ? a : b < c ? c : b;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (values[i]! < pivot) i++;
      while (values[j]! > pivot) j--;
      if (i <= j) {
        const t = values[i]!;
        values[i] = values[j]!;
        values[j] = t;
        i++;
        j--;
      }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else return values[k]!;
  }
  return values[k]!;
}

export type Scores = ReadonlyMap<string, Float32Array>;

/** Global scope: one threshold across all prunable tensors. */
export function globalMasks(scores: Scores, keep: number): Masks {
  const names = [...scores.keys()];
  const all = new Float32Array(names.reduce((sum, name) => sum + scores.get(name)!.length, 0));
  let offset = 0;
  for (const name of names) {
    all.set(scores.get(name)!, offset);
    offset += scores.get(name)!.length;
  }
  const flat = keepTopScores(all, keep);
  const masks = new Map<string, Uint8Array>();
  offset = 0;
  for (const name of names) {
    const size = scores.get(name)!.length;
    masks.set(name, flat.slice(offset, offset + size));
    offset += size;
  }
  return masks;
}

/** Layer scope: the same kept fraction in every tensor; counts add up to `keep` exactly. */
export function layerwiseMasks(scores: Scores, keep: number, apportion: (sizes: number[], keep: number) => number[]): Masks {
  const names = [...scores.keys()];
  const perLayer = apportion(names.map((name) => scores.get(name)!.length), keep);
  return new Map(names.map((name, i) => [name, keepTopScores(scores.get(name)!, perLayer[i]!)]));
}
