import "@tensorflow/tfjs-backend-cpu";
import * as tf from "@tensorflow/tfjs-core";
import { beforeAll, describe, expect, it } from "vitest";
import { makeSyntheticDataset } from "../src/data/index.js";
import type { Masks } from "../src/nn/model.js";
import { linearModel as makeLinear } from "../src/testing/index.js";

const linearModel = (inputSize: number, numClasses: number, seed: number) =>
  makeLinear({ height: 8, width: 8, channels: 1 }, numClasses, seed);
import {
  applyMasks,
  crossEntropy,
  evaluate,
  learningRateAt,
  Sgd,
  ShapeMismatchError,
  train,
  validateMasks,
  type TrainOptions,
} from "../src/train/index.js";

beforeAll(async () => {
  await tf.setBackend("cpu");
});

const data = makeSyntheticDataset({ count: 200, height: 8, width: 8, channels: 1, numClasses: 4, seed: 3 });
const baseOptions: TrainOptions = {
  epochs: 3,
  batchSize: 32,
  schedule: { kind: "constant", initialLr: 0.05 },
  momentum: 0.9,
  nesterov: true,
  weightDecay: 1e-4,
  augmentation: false,
  seed: 7,
};

describe("learning-rate schedules", () => {
  it("paper: /10 at 1/4 and /100 at 1/2 of training", () => {
    const lrs = Array.from({ length: 8 }, (_, e) => learningRateAt({ kind: "paper_step", initialLr: 0.1 }, e, 8));
    expect(lrs).toEqual([0.1, 0.1, 0.01, 0.01, 0.001, 0.001, 0.001, 0.001]);
  });
  it("reference code: /10 at 1/2 and /100 at 3/4", () => {
    const lrs = Array.from({ length: 8 }, (_, e) => learningRateAt({ kind: "reference_code_step", initialLr: 0.1 }, e, 8));
    expect(lrs).toEqual([0.1, 0.1, 0.1, 0.1, 0.01, 0.01, 0.001, 0.001]);
  });
});

describe("loss and SGD", () => {
  it("cross-entropy matches a hand computation", () => {
    const logits = tf.tensor2d([[1, 2, 3], [0, 0, 0]]);
    const loss = crossEntropy(logits, tf.tensor1d([2, 0], "int32")).dataSync()[0]!;
    const lse = Math.log(Math.exp(1) + Math.exp(2) + Math.exp(3));
    expect(loss).toBeCloseTo(((lse - 3) + Math.log(3)) / 2, 6);
  });

  it("SGD with Nesterov momentum and weight decay follows torch.optim.SGD step by step", () => {
    const w = tf.variable(tf.tensor1d([1, -2]));
    const sgd = new Sgd({ momentum: 0.9, nesterov: true, weightDecay: 0.1 });
    const grads = [[0.5, 0.25], [-1, 2]];
    // Independent float64 computation of the same recurrences.
    let ref = [1, -2];
    let buf: number[] | undefined;
    for (const grad of grads) {
      const g = grad.map((gi, i) => gi + 0.1 * ref[i]!);
      buf = buf ? buf.map((b, i) => 0.9 * b + g[i]!) : g;
      const step = g.map((gi, i) => gi + 0.9 * buf![i]!);
      ref = ref.map((r, i) => r - 0.01 * step[i]!);
      const gradTensor = tf.tensor1d(grad);
      sgd.step(new Map([["w", w]]), { w: gradTensor }, 0.01);
      gradTensor.dispose();
    }
    const got = Array.from(w.dataSync());
    expect(got[0]).toBeCloseTo(ref[0]!, 6);
    expect(got[1]).toBeCloseTo(ref[1]!, 6);
    sgd.dispose();
    w.dispose();
  });
});

describe("trainer", () => {
  it("learns a learnable task and evaluates with exact counts", async () => {
    const model = linearModel(64, 4, 1);
    const before = await evaluate(model, data, { batchSize: 64 });
    const summary = await train(model, data, baseOptions);
    const after = await evaluate(model, data, { batchSize: 64 });
    expect(summary.epochsCompleted).toBe(3);
    expect(after.total).toBe(200);
    expect(after.accuracy).toBeGreaterThan(Math.max(0.6, before.accuracy + 0.2));
    // Exact counts: the accuracy is correct/total and agrees with the predictions.
    const agree = after.predictions.filter((p, i) => p === data.labels[i]).length;
    expect(after.correct).toBe(agree);
    expect(after.accuracy).toBe(after.correct / 200);
    model.dispose();
  });

  it("counts a last partial batch exactly (no per-batch averaging)", async () => {
    const model = linearModel(64, 4, 2);
    const full = await evaluate(model, data, { batchSize: 200 });
    const partial = await evaluate(model, data, { batchSize: 64 }); // 64+64+64+8
    expect(partial.correct).toBe(full.correct);
    expect(partial.loss).toBeCloseTo(full.loss, 5);
    model.dispose();
  });

  it("is reproducible under a seed", async () => {
    const a = linearModel(64, 4, 5);
    const b = linearModel(64, 4, 5);
    await train(a, data, { ...baseOptions, epochs: 1 });
    await train(b, data, { ...baseOptions, epochs: 1 });
    expect(Array.from(a.params[0]!.variable.dataSync())).toEqual(Array.from(b.params[0]!.variable.dataSync()));
    a.dispose();
    b.dispose();
  });

  it("keeps pruned weights exactly 0 through fine-tuning", async () => {
    const model = linearModel(64, 4, 3);
    const maskValues = Array.from({ length: 64 * 4 }, (_, i) => (i % 3 === 0 ? 0 : 1));
    const masks: Masks = new Map([["fc.weight", Uint8Array.from(maskValues)]]);
    await train(model, data, { ...baseOptions, epochs: 2, masks });
    const w = model.params[0]!.variable.dataSync();
    const prunedNonzero = maskValues.filter((m, i) => m === 0 && w[i] !== 0).length;
    const keptNonzero = maskValues.filter((m, i) => m === 1 && w[i] !== 0).length;
    expect(prunedNonzero).toBe(0);
    expect(keptNonzero).toBe(maskValues.filter((m) => m === 1).length);
    model.dispose();
  });

  it("rejects a mask that does not fit the model", () => {
    const model = linearModel(64, 4, 3);
    const wrong: Masks = new Map([["fc.weight", new Uint8Array(64 * 4 - 1).fill(1)]]);
    expect(() => validateMasks(model, wrong)).toThrow(ShapeMismatchError);
    expect(() => validateMasks(model, new Map([["nope", new Uint8Array(1)]]))).toThrow(/nope: no such parameter/);
    applyMasks(model, new Map());
    model.dispose();
  });

  it("leaks no tensors over an epoch and reports progress", async () => {
    const model = linearModel(64, 4, 4);
    await train(model, data, { ...baseOptions, epochs: 1 }); // warm-up
    const before = tf.memory().numTensors;
    const steps: number[] = [];
    await train(model, data, { ...baseOptions, epochs: 1, onProgress: (p) => steps.push(p.step) });
    await evaluate(model, data, { batchSize: 64 });
    expect(tf.memory().numTensors).toBe(before);
    expect(steps).toEqual([1, 2, 3, 4, 5, 6, 7]);
    model.dispose();
  });

  it("stops with an AbortError when cancelled", async () => {
    const model = linearModel(64, 4, 4);
    const controller = new AbortController();
    const run = train(model, data, {
      ...baseOptions,
      signal: controller.signal,
      onProgress: (p) => p.step === 2 && controller.abort(),
    });
    await expect(run).rejects.toMatchObject({ name: "AbortError" });
    model.dispose();
  });
});
