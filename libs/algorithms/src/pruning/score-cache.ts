import type { Scores } from "./masks.js";

/**
 * The scores of the last few scorings, by what they were computed from.
 * Scores do not depend on the compression ratio, so an experiment's prune
 * calls for ratios 2 to 32 of one strategy score once. Bounded by bytes;
 * the oldest entry goes first.
 */
export class ScoreCache {
  private readonly entries = new Map<string, Promise<Scores>>();
  private readonly sizes = new Map<string, number>();

  constructor(private readonly maxBytes: number) {}

  get(key: string, compute: () => Promise<Scores>): Promise<Scores> {
    const hit = this.entries.get(key);
    if (hit) return hit;
    const scores = compute();
    this.entries.set(key, scores);
    scores.then(
      (s) => {
        this.sizes.set(key, [...s.values()].reduce((sum, a) => sum + a.byteLength, 0));
        this.evict();
      },
      () => this.entries.delete(key), // a failed scoring is not remembered
    );
    return scores;
  }

  private evict(): void {
    let total = [...this.sizes.values()].reduce((a, b) => a + b, 0);
    for (const key of this.entries.keys()) {
      if (total <= this.maxBytes || this.entries.size <= 1) break;
      total -= this.sizes.get(key) ?? 0;
      this.entries.delete(key);
      this.sizes.delete(key);
    }
  }
}
