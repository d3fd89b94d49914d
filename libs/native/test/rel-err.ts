/** Largest absolute difference of a from b, relative to b's largest magnitude (at least `floor`). */
export function maxRelErr(a: Float32Array, b: Float32Array, floor: number): number {
  let diff = 0;
  let scale = floor;
  for (let i = 0; i < b.length; i++) {
    diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(b[i]!));
  }
  return diff / scale;
}
