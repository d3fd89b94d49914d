/**
 * Compression ratio p, as in ShrinkBench: all parameters before pruning over
 * all parameters after it. Non-prunable parameters (BatchNorm, the final
 * classifier) are always kept, so the prunable weights keep
 *   kept = round(total / p) - nonprunable
 * i.e. the fraction (total/p - nonprunable) / prunable.
 */
export function keptPrunableCount(total: number, prunable: number, compression: number): number {
  if (!(compression >= 1)) throw new RangeError(`compression ratio must be >= 1, got ${compression}`);
  const nonprunable = total - prunable;
  if (total / compression < nonprunable) {
    const max = total / nonprunable;
    throw new RangeError(
      `compression ratio ${compression} is unreachable: ${nonprunable} non-prunable parameters alone give at most ${max.toFixed(2)}`,
    );
  }
  return Math.min(Math.round(total / compression) - nonprunable, prunable);
}

/**
 * Splits a total kept count over tensors in proportion to their sizes
 * (layerwise scope): each gets floor(fraction * size), and the remaining
 * units go to the largest remainders (ties: earlier tensor first), so the
 * counts add up exactly.
 */
export function apportion(sizes: readonly number[], totalKept: number): number[] {
  const totalSize = sizes.reduce((a, b) => a + b, 0);
  const exact = sizes.map((size) => (totalKept * size) / totalSize);
  const counts = exact.map(Math.floor);
  let left = totalKept - counts.reduce((a, b) => a + b, 0);
  const byRemainder = exact.map((e, i) => ({ i, r: e - Math.floor(e) })).sort((a, b) => b.r - a.r || a.i - b.i);
  for (const { i } of byRemainder) {
    if (left === 0) break;
    if (counts[i]! < sizes[i]!) {
      counts[i]!++;
      left--;
    }
  }
  return counts;
}
