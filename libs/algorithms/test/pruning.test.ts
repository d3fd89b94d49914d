import "@tensorflow/tfjs-backend-cpu";
import * as tf from "@tensorflow/tfjs-core";
import { beforeAll, describe, expect, it } from "vitest";
import { applyMasks, maskTensors, type Dataset } from "@gap/ml-core";
import { apportion, keepTopScores, keptPrunableCount, kthSmallest, prune, scoreParameters, STRATEGIES, sumGradients, type Scope, type StrategyName, type Variant } from "../src/index.js";
import { handGradients, tinyModel } from "./tiny-model.js";

beforeAll(async () => {
  await tf.setBackend("cpu");
});

const W1 = [[0.5, -0.1], [0.3, -0.9], [0.05, 0.2]];
const W2 = [[0.7, -0.4], [-0.25, 0.6]];
const B = [0.1, -0.1];
const xs = [[1, 0.5, -0.2], [0.3, -1, 0.8], [-0.6, 0.4, 0.9], [0.2, 0.2, -0.7]];
const ys = [0, 1, 1, 0];
const data: Dataset = { images: Float32Array.from(xs.flat()), labels: Int32Array.from(ys), count: 4, height: 1, width: 1, channels: 3, numClasses: 2 };

/** Expected mask by explicit sorting: keep the `keep` highest scores, lower index first among equals. */
function expectedTop(scores: number[], keep: number): number[] {
  const order = scores.map((s, i) => ({ s, i })).sort((a, b) => b.s - a.s || a.i - b.i);
  const mask = scores.map(() => 0);
  order.slice(0, keep).forEach(({ i }) => (mask[i] = 1));
  return mask;
}

async function masksOf(strategy: StrategyName, scope: Scope, compression: number, variant: Variant = "paper", seed = 1) {
  const model = tinyModel(W1, W2, B);
  const { masks, report } = await prune(model, { strategy, scope, compression, variant, data, batchSize: 2, seed });
  model.dispose();
  return { w1: Array.from(masks.get("fc1.weight")!), w2: Array.from(masks.get("fc2.weight")!), report };
}

describe("compression ratio and exact counts", () => {
  it("keeps round(total/p) - nonprunable prunable weights", () => {
    expect(keptPrunableCount(12, 10, 2)).toBe(4);
    expect(keptPrunableCount(269_722, 269_722 - 1_338, 4)).toBe(Math.round(269_722 / 4) - 1_338);
    expect(() => keptPrunableCount(12, 10, 8)).toThrow(/unreachable/);
    expect(() => keptPrunableCount(12, 10, 0.5)).toThrow(/>= 1/);
  });

  it("apportions a layerwise total exactly by largest remainder", () => {
    expect(apportion([6, 4], 4)).toEqual([2, 2]); // exact 2.4, 1.6
    expect(apportion([10, 30], 7)).toEqual([2, 5]); // exact 1.75, 5.25
    expect(apportion([3, 3, 3], 4)).toEqual([2, 1, 1]); // equal remainders: earlier first
  });

  it("selects the k-th smallest score as a full sort would, with duplicates, signed zeros and every k", () => {
    let state = 12345;
    const next = () => ((state = (Math.imul(state, 1103515245) + 12345) >>> 0) / 2 ** 32);
    for (const [n, distinct] of [
      [1, 1],
      [2, 2],
      [7, 3],
      [100, 1000],
      [257, 4],
      [1000, 1],
      [5000, 50],
    ] as const) {
      const values = Float32Array.from({ length: n }, () => {
        const v = Math.floor(next() * distinct) - distinct / 2;
        return v === 0 && next() < 0.5 ? -0 : v;
      });
      const sorted = Float32Array.from(values).sort();
      for (let k = 0; k < n; k += Math.max(1, Math.floor(n / 97))) {
        // === : -0 and +0 are the same threshold for eq. (1).
        expect(kthSmallest([values], k) === sorted[k], `n ${n}, k ${k}`).toBe(true);
      }
    }
    // Sorted, reversed and constant inputs stay correct.
    for (const values of [Float32Array.from({ length: 4096 }, (_, i) => i), Float32Array.from({ length: 4096 }, (_, i) => -i), new Float32Array(4096).fill(2)]) {
      const sorted = Float32Array.from(values).sort();
      for (const k of [0, 1, 2047, 4095]) expect(kthSmallest([values], k) === sorted[k], `k ${k}`).toBe(true);
    }
    expect(() => kthSmallest([new Float32Array(3)], 3)).toThrow(RangeError);
  });

  it("selects over several arrays (views at an offset too) as over their concatenation, for values of every sign and magnitude", () => {
    let state = 777;
    const next = () => ((state = (Math.imul(state, 1103515245) + 12345) >>> 0) / 2 ** 32);
    // Magnitudes from subnormal to 1e30, both signs, infinities, zeros of both signs, repeats.
    const special = [Infinity, -Infinity, 0, -0, 1e-45, -1e-45, 3.4e38, -3.4e38];
    const all = Float32Array.from({ length: 3000 }, (_, i) => (i % 50 === 0 ? special[(i / 50) % special.length]! : (next() < 0.5 ? -1 : 1) * 10 ** (next() * 60 - 30) * (i % 7 === 0 ? 1 : next())));
    const backing = new Float32Array(all.length + 5);
    backing.set(all, 5);
    const view = backing.subarray(5); // byteOffset 20
    const parts = [view.subarray(0, 1000), view.subarray(1000, 1001), view.subarray(1001)];
    const sorted = Float32Array.from(all).sort();
    for (let k = 0; k < all.length; k += 37) expect(kthSmallest(parts, k) === sorted[k], `k ${k}`).toBe(true);
    expect(kthSmallest(parts, all.length - 1)).toBe(Infinity);
    expect(kthSmallest(parts, 0)).toBe(-Infinity);
  });

  it("breaks ties at the threshold by the lower index", () => {
    expect(Array.from(keepTopScores(Float32Array.from([3, 1, 2, 2, 5]), 3))).toEqual([1, 0, 1, 0, 1]);
    expect(Array.from(keepTopScores(Float32Array.from([1, 1, 1, 1]), 2))).toEqual([1, 1, 0, 0]);
  });
});

describe("strategies on a hand-built model (p = 2: 4 of 10 prunable weights kept)", () => {
  it("global magnitude keeps the 4 largest |w| over both layers", async () => {
    // |W1| = .5 .1 .3 .9 .05 .2, |W2| = .7 .4 .25 .6 -> keep .9 .7 .6 .5
    const { w1, w2, report } = await masksOf("magnitude", "global", 2);
    expect(w1).toEqual([1, 0, 0, 1, 0, 0]);
    expect(w2).toEqual([1, 0, 0, 1]);
    expect(report.nonzeroParameters).toBe(6);
    expect(report.realizedCompression).toBe(2);
  });

  it("layer magnitude keeps the same share in each layer (2 and 2)", async () => {
    const { w1, w2, report } = await masksOf("magnitude", "layer", 2);
    expect(w1).toEqual([1, 0, 0, 1, 0, 0]); // .9 .5
    expect(w2).toEqual([1, 0, 0, 1]); // .7 .6
    expect(report.layers.map((l) => [l.kept, l.total])).toEqual([[2, 6], [2, 4]]);
  });

  const handSums = (absolute: boolean) => {
    const sum1 = new Array(6).fill(0);
    const sum2 = new Array(4).fill(0);
    xs.forEach((x, n) => {
      const { gW1, gW2 } = handGradients(W1, W2, B, x, ys[n]!);
      gW1.forEach((g, i) => (sum1[i] += absolute ? Math.abs(g) : g));
      gW2.forEach((g, i) => (sum2[i] += absolute ? Math.abs(g) : g));
    });
    return { sum1, sum2 };
  };

  it("gradient (eq. 3) keeps the largest sums of per-example |dL/dw|", async () => {
    const { sum1, sum2 } = handSums(true);
    const expected = expectedTop([...sum1, ...sum2], 4);
    const global = await masksOf("gradient", "global", 2);
    expect([...global.w1, ...global.w2]).toEqual(expected);
    const layer = await masksOf("gradient", "layer", 2);
    expect(layer.w1).toEqual(expectedTop(sum1, 2));
    expect(layer.w2).toEqual(expectedTop(sum2, 2));
  });

  it("GAP (eq. 4) prunes the highest positive summed gradients: keeps the highest -Σ dL/dw", async () => {
    const { sum1, sum2 } = handSums(false);
    const scores = [...sum1, ...sum2].map((g) => -g);
    const global = await masksOf("gap", "global", 2);
    expect([...global.w1, ...global.w2]).toEqual(expectedTop(scores, 4));
    // The weight with the largest positive gradient is pruned, whatever its magnitude.
    const all = [...sum1, ...sum2];
    expect([...global.w1, ...global.w2][all.indexOf(Math.max(...all))]).toBe(0);
    const layer = await masksOf("gap", "layer", 2);
    expect(layer.w1).toEqual(expectedTop(sum1.map((g) => -g), 2));
    expect(layer.w2).toEqual(expectedTop(sum2.map((g) => -g), 2));
  });

  it("reference-code variants: layerwise GAP by |Σ grad|, gradient by |w · grad| of one batch", async () => {
    const { sum1, sum2 } = handSums(false);
    const layerGap = await masksOf("gap", "layer", 2, "reference_code");
    expect(layerGap.w1).toEqual(expectedTop(sum1.map(Math.abs), 2));
    expect(layerGap.w2).toEqual(expectedTop(sum2.map(Math.abs), 2));
    // One batch of 2 with mean loss.
    const g1 = [0, 1].map((n) => handGradients(W1, W2, B, xs[n]!, ys[n]!));
    const batchGrad = [...g1[0]!.gW1, ...g1[0]!.gW2].map((g, i) => (g + [...g1[1]!.gW1, ...g1[1]!.gW2][i]!) / 2);
    const w = [...W1.flat(), ...W2.flat()];
    const gradient = await masksOf("gradient", "global", 2, "reference_code");
    expect([...gradient.w1, ...gradient.w2]).toEqual(expectedTop(batchGrad.map((g, i) => Math.abs(g * w[i]!)), 4));
  });

  it("scores a strategy says do not depend on the scope are the same bits under both (the pruning service shares them)", async () => {
    const scoresOf = async (strategy: StrategyName, scope: Scope, variant: Variant) => {
      const model = tinyModel(W1, W2, B);
      const scores = await scoreParameters(model, { strategy, scope, compression: 2, variant, data, batchSize: 2, seed: 1 });
      model.dispose();
      return [...scores.values()].flatMap((s) => Array.from(s));
    };
    const shared: string[] = [];
    for (const strategy of Object.keys(STRATEGIES) as StrategyName[]) {
      for (const variant of ["paper", "reference_code"] as const) {
        const [first, ...others] = STRATEGIES[strategy].scopes;
        const scores = await scoresOf(strategy, first!, variant);
        for (const scope of others) {
          const dependent = STRATEGIES[strategy].scoresDependOnScope(variant);
          if (dependent) expect(await scoresOf(strategy, scope, variant)).not.toEqual(scores);
          else expect(await scoresOf(strategy, scope, variant), `${strategy} ${variant}`).toEqual(scores);
          if (!dependent) shared.push(`${strategy} ${variant}`);
        }
      }
    }
    expect(shared).toEqual(["magnitude paper", "magnitude reference_code", "gradient paper", "gradient reference_code", "gap paper"]);
  });

  it("random keeps exactly the count, reproducibly under the seed", async () => {
    const a = await masksOf("random", "global", 2, "paper", 11);
    const b = await masksOf("random", "global", 2, "paper", 11);
    expect([...a.w1, ...a.w2].reduce((s, m) => s + m, 0)).toBe(4);
    expect(a).toEqual(b);
    const seeds = await Promise.all([12, 13, 14, 15].map((s) => masksOf("random", "global", 2, "paper", s)));
    expect(new Set(seeds.map((m) => [...m.w1, ...m.w2].join("")))).not.toHaveProperty("size", 1);
    await expect(masksOf("random", "layer", 2)).rejects.toThrow(/no layer scope/);
  });

  it("applying a mask zeroes exactly the pruned weights", async () => {
    const model = tinyModel(W1, W2, B);
    const { masks } = await prune(model, { strategy: "magnitude", scope: "global", compression: 2, variant: "paper", batchSize: 2, seed: 0 });
    const tensors = maskTensors(model, masks);
    applyMasks(model, tensors);
    const w1 = Array.from(model.params[0]!.variable.dataSync(), (w) => (w === 0 ? 0 : w)); // -0 counts as 0
    expect(w1).toEqual(W1.flat().map((w, i) => (masks.get("fc1.weight")![i] ? Math.fround(w) : 0)));
    tf.dispose([...tensors.values()]);
    model.dispose();
  });

  it("needs scoring data for gradient and GAP", async () => {
    const model = tinyModel(W1, W2, B);
    await expect(prune(model, { strategy: "gap", scope: "global", compression: 2, variant: "paper", batchSize: 2, seed: 0 })).rejects.toThrow(
      /needs scoring data/,
    );
    model.dispose();
  });
});

describe("scoring checkpoints", () => {
  it("gradient sums cut after two batches continue from their checkpoint to the same bits", async () => {
    const model = tinyModel(W1, W2, B);
    const params = model.params.filter((p) => p.prunable);
    const options = { eachBatch: tf.abs, training: false, reduction: "sum" as const, batchSize: 1 };
    const whole = await sumGradients(model, params, data, options);
    const saved: Uint8Array[] = [];
    const controller = new AbortController();
    const checkpoints = { load: async () => undefined, save: async (s: Uint8Array) => void (saved.push(s) === 2 && controller.abort()) };
    await expect(sumGradients(model, params, data, { ...options, checkpoints, checkpointEveryMs: 0, signal: controller.signal })).rejects.toMatchObject({ name: "AbortError" });
    let batches = 0;
    const resumed = await sumGradients(model, params, data, { ...options, checkpoints: { load: async () => saved.at(-1), save: async () => {} }, onProgress: () => batches++ });
    expect(batches).toBe(2); // 4 examples, 2 summed before the cut
    for (const [name, sums] of whole) expect(Array.from(resumed.get(name)!)).toEqual(Array.from(sums));
    model.dispose();
  });
});
