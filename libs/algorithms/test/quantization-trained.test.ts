// Int8 post-training quantization of trained and full-size models, on the wasm backend for speed.
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import { beforeAll, describe, expect, it } from "vitest";
import {
  createModel,
  evaluate,
  findRepoRoot,
  initBackend,
  nativeKernelCalls,
  readCifar10Dir,
  stratifiedSubset,
  train,
  type ArchitectureName,
  type Model,
  type ModelConfig,
} from "@gap/ml-core";
import {
  calibrate,
  decodeQuantizedModel,
  encodeQuantizedModel,
  fakeQuantize,
  fakeQuantizeTensor,
  quantizedSize,
  quantizeModel,
  simulatedQuantizedModel,
} from "../src/index.js";

let nativeOn = false;
beforeAll(async () => {
  nativeOn = (await initBackend("wasm")).native?.enabled === true;
});

const config = (architecture: ArchitectureName): ModelConfig => ({ architecture, numClasses: 10, inputShape: { height: 32, width: 32, channels: 3 } });
const sampleDir = join(findRepoRoot()!, "libs/ml-core/data/cifar10-sample");
const trainSplit = readCifar10Dir(sampleDir, "train");
const testSplit = readCifar10Dir(sampleDir, "test");

/**
 * An untrained model whose BatchNorm statistics fit its activations: with the running
 * statistics (0, 1) activations vanish or explode with depth, so a few training-mode
 * forwards give them a trained net's scale.
 */
function warmedUp(arch: ArchitectureName) {
  const model = createModel(config(arch), 4);
  const warm = tf.tensor4d(stratifiedSubset(trainSplit, 16, 6).images, [16, 32, 32, 3]);
  for (let i = 0; i < 10; i++) {
    tf.dispose(model.forward(warm, { training: true, dropoutSeed: i }));
    model.commitBatchStats();
  }
  warm.dispose();
  return model;
}

/** The model's eval-mode logits on x, as plain numbers. */
function logitsOf(model: Model, x: tf.Tensor4D): number[] {
  const y = model.forward(x, { training: false });
  const values = Array.from(y.dataSync());
  y.dispose();
  return values;
}

/** The RMS of b - a, and the spread (standard deviation) of a's values it is judged against. */
function rmsError(a: number[], b: number[]): { err: number; spread: number } {
  const mean = a.reduce((s, v) => s + v, 0) / a.length;
  const spread = Math.sqrt(a.reduce((s, v) => s + (v - mean) ** 2, 0) / a.length);
  const err = Math.sqrt(a.reduce((s, v, i) => s + (v - b[i]!) ** 2, 0) / a.length);
  return { err, spread };
}

/** Quantizes through the artifact, as the quantization and evaluation services do. */
async function quantizedTwin(model: ReturnType<typeof createModel>, calibrationCount: number) {
  const ranges = await calibrate(model, stratifiedSubset(trainSplit, calibrationCount, 3), { batchSize: 128 });
  const q = quantizeModel(model, ranges, { perChannel: true });
  return { q, sim: simulatedQuantizedModel(model.config, decodeQuantizedModel(encodeQuantizedModel(q))) };
}

describe("int8 on wasm", () => {
  it("rounds ties to even and clamps like fakeQuantize", () => {
    const qp = { scale: 0.5, zeroPoint: 10 };
    const xs = Array.from({ length: 331 }, (_, k) => (k - 30) * 0.25);
    const x = tf.tensor1d(xs);
    const y = fakeQuantizeTensor(x, qp);
    expect(Array.from(y.dataSync())).toEqual(xs.map((v) => fakeQuantize(v, qp)));
    tf.dispose([x, y]);
  });

  it("keeps the accuracy of a briefly trained ResNet20 (2 epochs on 1024 images)", { timeout: 400_000 }, async () => {
    const before = tf.memory().numTensors;
    const model = createModel(config("resnet20"), 1);
    await train(model, stratifiedSubset(trainSplit, 1024, 1), {
      epochs: 2,
      batchSize: 32,
      schedule: { kind: "constant", initialLr: 0.05 },
      momentum: 0.9,
      nesterov: true,
      weightDecay: 1e-4,
      augmentation: false,
      seed: 1,
    });
    const { q, sim } = await quantizedTwin(model, 256);
    const test = stratifiedSubset(testSplit, 500, 2);
    const float = await evaluate(model, test, { batchSize: 250 });
    const int8 = await evaluate(sim, test, { batchSize: 250 });
    const agreement = float.predictions.reduce((n, p, i) => n + (p === int8.predictions[i] ? 1 : 0), 0) / test.count;
    // A model this briefly trained has many near-tied top two logits, where any
    // rounding (int8, or a change of summation order in training) flips the
    // prediction: overall agreement ranged 0.88-0.96 over training seeds. So the
    // int8 logits are checked against the float ones directly, and the
    // predictions where the float model's top-two margin is clear of that error.
    const xs = tf.tensor4d(test.images, [test.count, 32, 32, 3]);
    const a = logitsOf(model, xs);
    const { err, spread } = rmsError(a, logitsOf(sim, xs));
    xs.dispose();
    const margins = Array.from(float.predictions, (_, i) => {
      const row = a.slice(i * 10, i * 10 + 10).sort((x, y) => y - x);
      return row[0]! - row[1]!;
    });
    // Clear: a margin of 3 RMS logit errors (the two logits' errors would have to differ by over 2 sigma).
    const clear = margins.flatMap((m, i) => (m > 3 * err ? [i] : []));
    const clearAgreement = clear.filter((i) => float.predictions[i] === int8.predictions[i]).length / clear.length;
    const size = quantizedSize(q);
    console.log(
      `resnet20: float accuracy ${float.accuracy} (loss ${float.loss.toFixed(4)}), int8 ${int8.accuracy} (loss ${int8.loss.toFixed(4)}), ` +
        `prediction agreement ${agreement}, relative logit error ${(err / spread).toFixed(4)}, agreement ${clearAgreement.toFixed(4)} on the ` +
        `${clear.length} inputs with a top-two margin over 3 RMS logit errors; size ${JSON.stringify(size)}`,
    );
    expect(float.accuracy).toBeGreaterThan(0.18); // it learned something (chance: 0.1)
    expect(Math.abs(int8.accuracy - float.accuracy)).toBeLessThanOrEqual(0.03);
    expect(Math.abs(int8.loss - float.loss)).toBeLessThan(0.05 * float.loss);
    expect(err).toBeLessThan(0.1 * spread);
    expect(clear.length).toBeGreaterThan(test.count / 5);
    expect(clearAgreement).toBeGreaterThanOrEqual(0.97);
    expect(int8.predictions).not.toEqual(float.predictions.map(() => 0)); // not degenerate
    expect(size.before).toBe(269_722 * 4);
    expect(size.after).toBeLessThan(size.before / 3.5);
    sim.dispose();
    model.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it.each(["vgg_bn_drop", "googlenet", "mobilenet_v2"] as const)("quantizes %s end to end, close to the float model", async (arch) => {
    const model = warmedUp(arch);
    const { q, sim } = await quantizedTwin(model, 16);
    const x = tf.tensor4d(stratifiedSubset(testSplit, 10, 5).images, [10, 32, 32, 3]);
    // Error relative to how much the float logits vary across inputs and classes.
    const { err, spread } = rmsError(logitsOf(model, x), logitsOf(sim, x));
    console.log(`${arch}: ${q.layers.length} int8 layers, ${q.activations.size} points, relative logit error ${(err / spread).toFixed(4)}, size ${JSON.stringify(quantizedSize(q))}`);
    expect(err).toBeGreaterThan(0);
    expect(err).toBeLessThan(0.05 * spread);
    tf.dispose(x);
    sim.dispose();
    model.dispose();
  });

  it.each(["resnet20", "mobilenet_v2"] as const)("runs %s's simulated int8 convs folded with their BatchNorm, as the composed layers compute them on cpu", async (arch) => {
    const model = warmedUp(arch);
    const { sim } = await quantizedTwin(model, 16);
    const x = tf.tensor4d(stratifiedSubset(testSplit, 32, 8).images, [32, 32, 32, 3]);
    nativeKernelCalls(true);
    const folded = logitsOf(sim, x);
    const foldedConvs = nativeKernelCalls(true)["GapFusedConv2D"] ?? 0;
    await tf.setBackend("cpu");
    let composed: number[];
    try {
      composed = logitsOf(sim, x);
    } finally {
      await tf.setBackend("wasm");
    }
    const convs = model.params.filter((p) => p.kind === "conv" || p.kind === "depthwise_conv").length;
    if (nativeOn) expect(foldedConvs).toBe(convs);
    // Float32 rounding (another summation order) moves a few values across a step of the int8
    // grid, and the step travels on: wasm's own kernels against cpu, 0.025 and 30 of 32 here.
    const { err, spread } = rmsError(composed, folded);
    const top1 = (v: number[]) => Array.from({ length: v.length / 10 }, (_, n) => v.slice(10 * n, 10 * n + 10).reduce((b, u, k, r) => (u > r[b]! ? k : b), 0));
    const [a, b] = [top1(folded), top1(composed)];
    const agree = a.filter((k, n) => k === b[n]).length;
    console.log(`${arch}: ${foldedConvs} of ${convs} convs folded; logits off by ${(err / spread).toFixed(4)} of their spread (rms); top-1 agrees on ${agree} of ${a.length}`);
    expect(err).toBeLessThan(0.05 * spread);
    expect(agree).toBeGreaterThanOrEqual(0.9 * a.length);
    tf.dispose(x);
    sim.dispose();
    model.dispose();
  });
});
