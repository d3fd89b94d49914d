import "@tensorflow/tfjs-backend-cpu";
import * as tf from "@tensorflow/tfjs-core";
import { beforeAll, describe, expect, it } from "vitest";
import { deriveSeed, encodeSafetensors, evaluate, makeSyntheticDataset, train, Rng, type Dataset } from "@gap/ml-core";
import { linearModel } from "@gap/ml-core/testing";
import { adversarialSetCounts, generateAdversarialSet, inputGradient, Pgd, type AttackParameters } from "../src/index.js";
import { decodeAdversarialSet, encodeAdversarialSet } from "../src/index.js";

beforeAll(async () => {
  await tf.setBackend("cpu");
});

const shape = { height: 8, width: 8, channels: 3 };
const normalization = { mean: [0.491, 0.482, 0.447], std: [0.247, 0.243, 0.262] };
const trainSet = makeSyntheticDataset({ count: 300, ...shape, numClasses: 4, seed: 1, noise: 0.15 });
const testSet = makeSyntheticDataset({ count: 120, ...shape, numClasses: 4, seed: 2, noise: 0.15 });
const pgd: AttackParameters = {
  method: "pgd",
  eps: 8 / 255,
  stepSize: 2 / 255,
  steps: 10,
  randomStart: true,
  labelMode: "true",
  inputSpace: "pixel",
  seed: 5,
  batchSize: 50,
};

async function trainedModel() {
  const model = linearModel(shape, 4, 3, normalization);
  await train(model, trainSet, {
    epochs: 4,
    batchSize: 32,
    schedule: { kind: "constant", initialLr: 0.05 },
    momentum: 0.9,
    nesterov: true,
    weightDecay: 0,
    augmentation: false,
    seed: 1,
  });
  return model;
}

function maxAbsPerturbationPerChannel(clean: Dataset, adversarial: Float32Array) {
  const max = new Array(clean.channels).fill(0);
  clean.images.forEach((x, i) => {
    const c = i % clean.channels;
    max[c] = Math.max(max[c], Math.abs(adversarial[i]! - x));
  });
  return max;
}

describe("PGD", () => {
  it("never leaves the eps ball or [0, 1] (pixel space, the paper)", async () => {
    const model = await trainedModel();
    const set = await generateAdversarialSet(model, testSet, pgd);
    const max = maxAbsPerturbationPerChannel(testSet, set.images);
    for (const m of max) expect(m).toBeLessThanOrEqual(pgd.eps + 1e-6);
    expect(Math.max(...max)).toBeGreaterThan(pgd.eps * 0.9); // the attack uses its budget
    expect(Math.min(...set.images)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...set.images)).toBeLessThanOrEqual(1);
    model.dispose();
  });

  it("rejects an unknown attack method, naming the field, and leaves no tensor behind", async () => {
    const model = await trainedModel();
    const before = tf.memory().numTensors;
    await expect(generateAdversarialSet(model, testSet, { ...pgd, method: "cw" } as unknown as AttackParameters)).rejects.toThrow(/parameters\.method: unknown attack "cw", expected pgd or fgsm/);
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });

  it("applies eps to the normalized input and never clips in the reference-code variant", async () => {
    const model = await trainedModel();
    const set = await generateAdversarialSet(model, testSet, { ...pgd, inputSpace: "normalized" });
    const max = maxAbsPerturbationPerChannel(testSet, set.images);
    max.forEach((m, c) => {
      expect(m).toBeLessThanOrEqual(pgd.eps * normalization.std[c]! + 1e-6);
      expect(m).toBeGreaterThan(pgd.eps * normalization.std[c]! * 0.9);
    });
    model.dispose();
  });

  it("lowers the accuracy of a trained model", async () => {
    const model = await trainedModel();
    const clean = await evaluate(model, testSet, { batchSize: 60 });
    // The synthetic task is easy for a linear model, so it needs a wider ball than 8/255.
    const set = await generateAdversarialSet(model, testSet, { ...pgd, eps: 0.3, stepSize: 0.06 });
    const attacked = await evaluate(model, set, { batchSize: 60 });
    expect(clean.accuracy).toBeGreaterThan(0.8);
    expect(attacked.accuracy).toBeLessThan(clean.accuracy - 0.3);
    // The set's own record of the source model agrees with a fresh evaluation.
    const counts = adversarialSetCounts(set);
    expect(counts.cleanCorrect).toBe(clean.correct);
    expect(counts.adversarialCorrect).toBe(attacked.correct);
    model.dispose();
  });

  it("is deterministic under a seed, and the seed matters", async () => {
    const model = await trainedModel();
    const a = await generateAdversarialSet(model, testSet, pgd);
    const b = await generateAdversarialSet(model, testSet, pgd);
    const c = await generateAdversarialSet(model, testSet, { ...pgd, seed: 6 });
    expect(Buffer.from(a.images.buffer).equals(Buffer.from(b.images.buffer))).toBe(true);
    expect(Buffer.from(a.images.buffer).equals(Buffer.from(c.images.buffer))).toBe(false);
    model.dispose();
  });

  it("with predicted labels, ascends the loss of the model's own predictions", async () => {
    const model = await trainedModel();
    const set = await generateAdversarialSet(model, testSet, { ...pgd, labelMode: "predicted", batchSize: 120 });
    const manual = tf.tidy(() => {
      const x = tf.tensor4d(testSet.images, [120, 8, 8, 3]);
      const predicted = tf.argMax(model.forward(x, { training: false }), 1) as tf.Tensor1D;
      const seed = set.parameters.seed;
      return new Pgd().perturb({ model, images: x, labels: predicted, seed: deriveSeed(seed, 0) }, set.parameters).dataSync();
    });
    expect(Array.from(manual)).toEqual(Array.from(set.images));
    model.dispose();
  });

  it("leaks no tensors", async () => {
    const model = await trainedModel();
    await generateAdversarialSet(model, testSet, pgd);
    const before = tf.memory().numTensors;
    await generateAdversarialSet(model, testSet, { ...pgd, method: "fgsm" });
    await generateAdversarialSet(model, testSet, pgd);
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });
});

describe("FGSM", () => {
  it("moves every pixel by eps along the gradient sign, within [0, 1]", async () => {
    const model = await trainedModel();
    const set = await generateAdversarialSet(model, testSet, { ...pgd, method: "fgsm", randomStart: false });
    const delta = Array.from(set.images, (v, i) => v - testSet.images[i]!);
    const interior = delta.filter((_, i) => testSet.images[i]! > pgd.eps && testSet.images[i]! < 1 - pgd.eps);
    for (const d of interior) expect(Math.abs(Math.abs(d) - pgd.eps)).toBeLessThan(1e-6);
    model.dispose();
  });
});

describe("input gradient", () => {
  it("matches central finite differences", async () => {
    const model = await trainedModel();
    const x = tf.tensor4d(testSet.images.slice(0, 2 * 192), [2, 8, 8, 3]);
    const labels = tf.tensor1d(testSet.labels.slice(0, 2), "int32");
    const gradient = inputGradient(model, x, labels).dataSync();
    const pixels = x.dataSync() as Float32Array;
    const loss = (images: Float32Array) =>
      tf.tidy(() => {
        const logits = model.forward(tf.tensor4d(images, [2, 8, 8, 3]), { training: false });
        return tf.sum(tf.losses.softmaxCrossEntropy(tf.oneHot(labels, 4), logits, undefined, tf.Reduction.NONE)).dataSync()[0]!;
      });
    const rng = new Rng(9);
    const h = 1e-2;
    for (let k = 0; k < 12; k++) {
      const i = rng.nextInt(2 * 192);
      const plus = pixels.slice();
      const minus = pixels.slice();
      plus[i]! += h;
      minus[i]! -= h;
      const numeric = (loss(plus) - loss(minus)) / (2 * h);
      expect(gradient[i]!).toBeCloseTo(numeric, 3);
    }
    tf.dispose([x, labels]);
    model.dispose();
  });
});


describe("adversarial set storage", () => {
  it("round-trips through safetensors with its parameters", async () => {
    const model = await trainedModel();
    const set = await generateAdversarialSet(model, testSet, { ...pgd, steps: 2 });
    const back = decodeAdversarialSet(encodeAdversarialSet(set));
    expect(back.parameters).toEqual(set.parameters);
    expect(Array.from(back.images)).toEqual(Array.from(set.images));
    expect(Array.from(back.adversarialPredictions)).toEqual(Array.from(set.adversarialPredictions));
    expect([back.count, back.height, back.width, back.channels, back.numClasses]).toEqual([120, 8, 8, 3, 4]);
    expect(() => decodeAdversarialSet(encodeSafetensors({ x: { dtype: "F32", shape: [1], data: new Float32Array(1) } }))).toThrow(
      /not an adversarial set/,
    );
    model.dispose();
  });
});

describe("attack checkpoints", () => {
  it("an attack cut after two batches continues from its checkpoint to the bytes of an uninterrupted one", async () => {
    const model = await trainedModel();
    const whole = encodeAdversarialSet(await generateAdversarialSet(model, testSet, pgd));
    const saved: Uint8Array[] = [];
    const controller = new AbortController();
    const cut = generateAdversarialSet(model, testSet, pgd, {
      checkpointEveryMs: 0,
      signal: controller.signal,
      checkpoints: {
        load: async () => undefined,
        save: async (state) => {
          saved.push(state);
          if (saved.length === 2) controller.abort();
        },
      },
    });
    await expect(cut).rejects.toMatchObject({ name: "AbortError" });
    let batches = 0;
    const resumed = await generateAdversarialSet(model, testSet, pgd, {
      checkpoints: { load: async () => saved.at(-1), save: async () => {} },
      onProgress: () => batches++,
    });
    expect(batches).toBe(1); // 120 inputs in batches of 50: only the third was attacked again
    expect(Buffer.from(encodeAdversarialSet(resumed)).equals(Buffer.from(whole))).toBe(true);
    model.dispose();
  });
});
