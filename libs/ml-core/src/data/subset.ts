import { Rng } from "./rng.js";
import { classCounts, imageSize, type Dataset } from "./types.js";

/** A new data set with the given examples, in the given order (copies the pixels). */
export function takeIndices(ds: Dataset, indices: ArrayLike<number>): Dataset {
  const size = imageSize(ds);
  const n = indices.length;
  const images = new Float32Array(n * size);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const j = indices[i]!;
    if (!Number.isInteger(j) || j < 0 || j >= ds.count) throw new Error(`takeIndices: index ${j} out of range [0, ${ds.count})`);
    images.set(ds.images.subarray(j * size, (j + 1) * size), i * size);
    labels[i] = ds.labels[j]!;
  }
  return { ...ds, images, labels, count: n, classNames: ds.classNames ? [...ds.classNames] : undefined };
}

/**
 * The indices (ascending) of a class-balanced random sample of exactly `count` examples:
 * floor(count / numClasses) per class, and the remainder one each to classes taken in a
 * seeded random order. Throws if a class has fewer examples than its quota.
 */
export function stratifiedIndices(ds: Pick<Dataset, "labels" | "count" | "numClasses">, count: number, seed: number): Int32Array {
  if (!Number.isInteger(count) || count < 0 || count > ds.count) {
    throw new Error(`stratifiedSubset: count must be an integer in [0, ${ds.count}], got ${count}`);
  }
  const rng = new Rng(seed);
  const k = ds.numClasses;
  const quota = new Array<number>(k).fill(Math.floor(count / k));
  const classOrder = rng.permutation(k);
  for (let i = 0; i < count % k; i++) quota[classOrder[i]!]++;

  const available = classCounts(ds);
  const short = quota.map((q, c) => ({ c, q, have: available[c]! })).filter((x) => x.have < x.q);
  if (short.length > 0) {
    const list = short.map((x) => `class ${x.c} has ${x.have}, needs ${x.q}`).join("; ");
    throw new Error(`stratifiedSubset: too few examples for ${count} (${list})`);
  }

  const byClass: number[][] = Array.from({ length: k }, () => []);
  for (let i = 0; i < ds.count; i++) byClass[ds.labels[i]!]!.push(i);
  const picked: number[] = [];
  for (let c = 0; c < k; c++) {
    const members = rng.shuffle(byClass[c]!);
    for (let i = 0; i < quota[c]!; i++) picked.push(members[i]!);
  }
  return Int32Array.from(picked).sort();
}

/** A class-balanced random subset of exactly `count` examples, in their original order. */
export function stratifiedSubset(ds: Dataset, count: number, seed: number): Dataset {
  return takeIndices(ds, stratifiedIndices(ds, count, seed));
}
