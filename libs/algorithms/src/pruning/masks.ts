import type { Masks } from "@gap/ml-core";

/**
 * Eq. (1): M_n = 0 where s(θ_n) < γ, else 1, with γ the score that leaves
 * exactly `keep` weights. Weights with the highest scores are kept. Ties at
 * the threshold are broken deterministically: the lower flat index is kept.
 */
export function keepTopScores(scores: Float32Array, keep: number): Uint8Array {
  return keepTop([scores], keep)[0]!;
}

/** Eq. (1) over several arrays taken as one flat array (their order is the flat order); one mask per array. */
function keepTop(arrays: readonly Float32Array[], keep: number): Uint8Array[] {
  const n = arrays.reduce((sum, a) => sum + a.length, 0);
  if (!Number.isInteger(keep) || keep < 0 || keep > n) throw new RangeError(`cannot keep ${keep} of ${n} weights`);
  let offset = 0;
  for (const a of arrays) {
    for (let i = 0; i < a.length; i++) if (Number.isNaN(a[i])) throw new Error(`score ${offset + i} is NaN`);
    offset += a.length;
  }
  const masks = arrays.map((a) => new Uint8Array(a.length));
  if (keep === 0) return masks;
  if (keep === n) return masks.map((m) => m.fill(1));
  const threshold = kthSmallest(arrays, n - keep); // γ: the keep-th largest score
  let kept = 0;
  arrays.forEach((a, j) => {
    const mask = masks[j]!;
    for (let i = 0; i < a.length; i++) {
      if (a[i]! > threshold) {
        mask[i] = 1;
        kept++;
      }
    }
  });
  for (let j = 0; j < arrays.length && kept < keep; j++) {
    const a = arrays[j]!;
    const mask = masks[j]!;
    for (let i = 0; i < a.length && kept < keep; i++) {
      if (a[i] === threshold) {
        mask[i] = 1;
        kept++;
      }
    }
  }
  return masks;
}

/**
 * The k-th smallest value (0-based) of the arrays taken as one, without copying
 * or reordering them: a radix select on the values' bits, the high 16 bits first,
 * then the low 16 within that bucket (two linear passes; quickselect on a copy of
 * GoogLeNet's 5.6M scores took 60-120 ms, the copy as long again). -0 and +0 are
 * one value, as in eq. (1)'s tests (a zero comes back as +0); NaN has no place (keepTop rejects it).
 */
export function kthSmallest(arrays: readonly Float32Array[], k: number): number {
  const n = arrays.reduce((sum, a) => sum + a.length, 0);
  if (!(Number.isInteger(k) && k >= 0 && k < n)) throw new RangeError(`no element ${k} in ${n} values`);
  const bits = arrays.map((a) => new Uint32Array(a.buffer, a.byteOffset, a.length));
  const counts = new Uint32Array(1 << 16);
  for (const b of bits) for (let i = 0; i < b.length; i++) counts[orderedKey(b[i]!) >>> 16]!++;
  const high = bucketOf(counts, k);
  counts.fill(0);
  for (const b of bits) {
    for (let i = 0; i < b.length; i++) {
      const key = orderedKey(b[i]!);
      if (key >>> 16 === high.bucket) counts[key & 0xffff]!++;
    }
  }
  const low = bucketOf(counts, high.rank);
  return valueOfKey(((high.bucket << 16) | low.bucket) >>> 0);
}

/** A float32's bits as an unsigned key that orders like the values (-0 keyed as +0). */
const orderedKey = (u: number): number => (u === 0x80000000 ? 0x80000000 : u & 0x80000000 ? ~u >>> 0 : (u | 0x80000000) >>> 0);

const keyBits = new Uint32Array(1);
const keyValue = new Float32Array(keyBits.buffer);
/** The value whose orderedKey is `key`. */
function valueOfKey(key: number): number {
  keyBits[0] = key & 0x80000000 ? key ^ 0x80000000 : ~key;
  return keyValue[0]!;
}

/** The bucket holding the value of the given rank, and that value's rank inside it. */
function bucketOf(counts: Uint32Array, rank: number): { bucket: number; rank: number } {
  let bucket = 0;
  while (rank >= counts[bucket]!) rank -= counts[bucket++]!;
  return { bucket, rank };
}

export type Scores = ReadonlyMap<string, Float32Array>;

/** Global scope: one threshold across all prunable tensors. */
export function globalMasks(scores: Scores, keep: number): Masks {
  const names = [...scores.keys()];
  const masks = keepTop(names.map((name) => scores.get(name)!), keep);
  return new Map(names.map((name, i) => [name, masks[i]!]));
}

/** Layer scope: the same kept fraction in every tensor; counts add up to `keep` exactly. */
export function layerwiseMasks(scores: Scores, keep: number, apportion: (sizes: number[], keep: number) => number[]): Masks {
  const names = [...scores.keys()];
  const perLayer = apportion(names.map((name) => scores.get(name)!.length), keep);
  return new Map(names.map((name, i) => [name, keepTopScores(scores.get(name)!, perLayer[i]!)]));
}
