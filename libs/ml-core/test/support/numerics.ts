import { Rng } from "../../src/data/rng.js";

/** Deterministic values in [-1, 1) from the project's seeded generator, independent of any backend. */
export function randomValues(size: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: size }, () => 2 * rng.nextFloat() - 1);
}

/** max|a-b| relative to max|b|: an error small next to the values' own scale. */
export function relError(a: Float32Array, b: Float32Array): number {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < b.length; i++) {
    diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(b[i]!));
  }
  return diff / Math.max(scale, 1e-12);
}
