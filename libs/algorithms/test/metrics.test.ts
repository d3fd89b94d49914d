import { describe, expect, it } from "vitest";
import { accuracyOf, maskOverlap, transferAccuracy, weightHistogram, type AdversarialSet } from "../src/index.js";

describe("metrics", () => {
  it("counts accuracy exactly", () => {
    expect(accuracyOf([1, 2, 3, 0], [1, 2, 0, 0])).toEqual({ correct: 3, total: 4, accuracy: 0.75 });
    expect(() => accuracyOf([1], [1, 2])).toThrow();
  });

  it("transfer accuracy and both-correct on a hand-made set", () => {
    const set = {
      labels: Int32Array.from([0, 1, 2, 3, 4]),
      adversarialPredictions: Int32Array.from([0, 9, 2, 9, 9]), // source right on 0 and 2
      count: 5,
    } as AdversarialSet;
    const target = [0, 1, 9, 3, 9]; // target right on 0, 1, 3
    expect(transferAccuracy(set, target)).toEqual({ correct: 3, total: 5, accuracy: 0.6, bothCorrect: 1 });
  });

  it("mask overlap: Jaccard and the count kept in both", () => {
    const a = new Map([["w", Uint8Array.from([1, 1, 0, 0, 1])], ["v", Uint8Array.from([1, 0])]]);
    const b = new Map([["w", Uint8Array.from([1, 0, 1, 0, 1])], ["v", Uint8Array.from([0, 0])]]);
    // kept both: w0, w4 = 2; either: w0 w1 w2 w4 v0 = 5
    expect(maskOverlap(a, b)).toEqual({ keptBoth: 2, keptEither: 5, keptA: 4, keptB: 3, jaccard: 0.4 });
    expect(maskOverlap(a, a).jaccard).toBe(1);
  });

  it("histograms only the kept weights", () => {
    const weights = new Map([["w", Float32Array.from([-1, -0.5, 0, 0.5, 1])]]);
    const all = weightHistogram(weights, undefined, { bins: 2, min: -1, max: 1 });
    expect(all).toEqual({ edges: [-1, 0, 1], counts: [2, 3] });
    const kept = weightHistogram(weights, new Map([["w", Uint8Array.from([1, 0, 0, 1, 1])]]), { bins: 2, min: -1, max: 1 });
    expect(kept.counts).toEqual([1, 2]);
  });
});
