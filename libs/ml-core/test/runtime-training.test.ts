// A full training step of a tiny CNN that uses every op the paper's nets need
// (ResNet / VGG-BN / GoogLeNet / MobileNetV2 building blocks, cross-entropy,
// SGD with momentum, and a PGD-style input gradient) must run entirely on the
// wasm backend and agree with the cpu backend.
import * as tf from "@tensorflow/tfjs-core";
import { describe, expect, it } from "vitest";
import { kernelsUsedBy, listMissingKernels } from "../src/runtime/index.js";
import { randomValues, relError } from "./support/numerics.js";
import { onWasmBackend } from "./support/wasm-backend.js";

const BATCH = 4;
const X_SHAPE: [number, number, number, number] = [BATCH, 16, 12, 3];
const LABELS = [3, 0, 7, 9];

const PARAM_SHAPES: Record<string, number[]> = {
  w1: [3, 3, 3, 8],
  g1: [8],
  be1: [8],
  wd: [3, 3, 8, 1],
  g2: [8],
  be2: [8],
  w2: [3, 3, 20, 16],
  b2: [16],
  w3: [1, 1, 16, 16],
  wfc: [16, 10],
  bfc: [10],
};

const size = (s: number[]) => s.reduce((a, b) => a * b, 1);
const INIT: Record<string, Float32Array> = Object.fromEntries(
  Object.entries(PARAM_SHAPES).map(([name, shape], i) => {
    const v = randomValues(size(shape), 100 + i);
    // BN scales near 1, everything else small.
    return [name, name.startsWith("g") ? v.map((u) => 1 + 0.2 * u) : v.map((u) => 0.5 * u)];
  }),
);
const X_VALUES = randomValues(size(X_SHAPE), 7).map((u) => 0.5 + 0.5 * u);
const NOISE = randomValues(size(X_SHAPE), 8);

type Params = Record<string, tf.Variable>;

// Variables survive tidy; the initial-value tensors do not.
function makeParams(): Params {
  return tf.tidy(() =>
    Object.fromEntries(Object.entries(PARAM_SHAPES).map(([name, shape]) => [name, tf.variable(tf.tensor(INIT[name]!, shape))])),
  );
}

function makeMomentum(p: Params): Params {
  return tf.tidy(() => Object.fromEntries(Object.entries(p).map(([k, v]) => [k, tf.variable(tf.zerosLike(v))])));
}

/** BatchNorm over N,H,W written out from tf.moments, as the models do in training mode. */
function bnFromMoments(x: tf.Tensor4D, gamma: tf.Tensor, beta: tf.Tensor): tf.Tensor4D {
  const { mean, variance } = tf.moments(x, [0, 1, 2]);
  return tf.add(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, 1e-5))), gamma), beta);
}

function logits(p: Params, x: tf.Tensor4D): tf.Tensor2D {
  // conv 3x3 'same' (no bias: BN would cancel it), BN from moments, max pool 3x3/2 'same', relu.
  const a1 = bnFromMoments(tf.conv2d(x, p.w1 as tf.Tensor4D, 1, "same"), p.g1!, p.be1!);
  const h1 = tf.relu(tf.maxPool(a1, 3, 2, "same")); // [4, 8, 6, 8]
  // MobileNet-style depthwise 3x3/2 + tf.batchNorm(moments) + relu6.
  const d = tf.depthwiseConv2d(h1, p.wd as tf.Tensor4D, 2, "same"); // [4, 4, 3, 8]
  const m = tf.moments(d, [0, 1, 2]);
  const h2 = tf.relu6(tf.batchNorm(d, m.mean, m.variance, p.be2!, p.g2!, 1e-5));
  // ResNet option-A shortcut: x[:, ::2, ::2, :] then zero channels on both sides.
  const sc = tf.pad(tf.stridedSlice(h1, [0, 0, 0, 0], [BATCH, 8, 6, 8], [1, 2, 2, 1]), [
    [0, 0],
    [0, 0],
    [0, 0],
    [2, 2],
  ]) as tf.Tensor4D; // [4, 4, 3, 12]
  const cat = tf.concat([h2, sc], 3) as tf.Tensor4D; // [4, 4, 3, 20]
  // conv with explicit padding.
  const h3 = tf.add(tf.conv2d(cat, p.w2 as tf.Tensor4D, 1, [[0, 0], [1, 1], [1, 1], [0, 0]]), p.b2!) as tf.Tensor4D;
  // GoogLeNet/VGG-like branches, all [4, 2, 2, 16]: ceil-mode max pool 2x2/2 both
  // as the models write it (-inf pad, 'valid') and with tfjs's rounding mode,
  // a 1x1 conv with stride 2, an avg pool 3x3/2.
  const b1 = tf.maxPool(tf.pad(h3, [[0, 0], [0, 0], [0, 1], [0, 0]], -Infinity), 2, 2, "valid");
  const b2 = tf.maxPool(h3, 2, 2, 0, "ceil");
  const b3 = tf.conv2d(h3, p.w3 as tf.Tensor4D, 2, "valid");
  const b4 = tf.avgPool(h3, 3, 2, "same");
  // Clipped after the pools: saturated values would tie inside a pooling window,
  // and backends may route a tie's gradient to different inputs.
  const merged = tf.relu(tf.clipByValue(tf.addN([b1, b2, b3, b4]), -1.5, 1.5));
  // Global average pooling, VGG-style dropout, linear classifier.
  const pooled = tf.mean(merged, [1, 2]) as tf.Tensor2D;
  const dropped = tf.dropout(pooled, 0.25, undefined, 5) as tf.Tensor2D;
  return tf.add(tf.matMul(dropped, p.wfc as tf.Tensor2D), p.bfc!);
}

function loss(p: Params, x: tf.Tensor4D): tf.Scalar {
  const logp = tf.logSoftmax(logits(p, x));
  const labels = tf.tensor1d(LABELS, "int32");
  const ceGather = tf.neg(tf.mean(tf.gather(logp, labels, 1, 1)));
  const ceOneHot = tf.neg(tf.mean(tf.sum(tf.mul(tf.oneHot(labels, 10), logp), 1)));
  return tf.add(tf.mul(0.5, tf.add(ceGather, ceOneHot)), tf.mul(1e-3, tf.sum(tf.square(p.w2!))));
}

/** The input, nudged FGSM-style with sign() and kept in [0, 1] with clipByValue. */
function input(): tf.Tensor4D {
  const nudged = tf.add(tf.tensor4d(X_VALUES, X_SHAPE), tf.mul(0.01, tf.sign(tf.tensor4d(NOISE, X_SHAPE))));
  return tf.clipByValue(nudged, 0, 1) as tf.Tensor4D;
}

interface StepResult {
  loss: number;
  grads: Record<string, Float32Array>;
  updated: Record<string, Float32Array>;
  inputGrad: Float32Array;
  adversarial: Float32Array;
}

/** One SGD-with-momentum step plus one PGD step on the input. */
function trainingStep(p: Params, momentum: Record<string, tf.Variable>): tf.Tensor[] {
  return tf.tidy(() => stepBody(p, momentum));
}

function stepBody(p: Params, momentum: Record<string, tf.Variable>): tf.Tensor[] {
  const x = input();
  const { value, grads } = tf.variableGrads(() => loss(p, x), Object.values(p));
  tf.tidy(() => {
    for (const [name, v] of Object.entries(p)) {
      const g = grads[v.name]!;
      const m = momentum[name]!;
      m.assign(tf.add(tf.mul(0.9, m), tf.add(g, tf.mul(5e-4, v))));
      v.assign(tf.sub(v, tf.mul(0.1, m)));
    }
  });
  // PGD: ascend the loss in input space, project to the eps-ball and [0, 1].
  const gx = tf.grad((xi: tf.Tensor) => loss(p, xi as tf.Tensor4D))(x);
  const eps = 8 / 255;
  const adv = tf.clipByValue(
    tf.minimum(tf.maximum(tf.add(x, tf.mul(2 / 255, tf.sign(gx))), tf.sub(x, eps)), tf.add(x, eps)),
    0,
    1,
  );
  return [value, ...Object.values(p).map((v) => grads[v.name]!), gx, adv, x];
}

async function runStep(backend: string): Promise<StepResult> {
  await tf.setBackend(backend);
  const before = tf.memory().numTensors;
  const p = makeParams();
  const momentum = makeMomentum(p);
  const outs = trainingStep(p, momentum);
  const [value, ...rest] = outs;
  const names = Object.keys(p);
  const grads = Object.fromEntries(names.map((n, i) => [n, rest[i]!.dataSync() as Float32Array]));
  const result: StepResult = {
    loss: value!.dataSync()[0]!,
    grads,
    updated: Object.fromEntries(names.map((n) => [n, p[n]!.dataSync() as Float32Array])),
    inputGrad: rest[names.length]!.dataSync() as Float32Array,
    adversarial: rest[names.length + 1]!.dataSync() as Float32Array,
  };
  tf.dispose([...outs, ...Object.values(p), ...Object.values(momentum)]);
  expect(tf.memory().numTensors).toBe(before);
  return result;
}

onWasmBackend();

describe("training step on wasm", () => {
  it("dispatches only kernels registered for wasm and never touches the cpu backend", async () => {
    await tf.setBackend("cpu"); // make sure the cpu backend exists so its data can be counted
    const cpu = tf.findBackend("cpu")!;
    await tf.setBackend("wasm");
    const cpuDataBefore = cpu.numDataIds();
    let names: string[] = [];
    const p = makeParams();
    const momentum = makeMomentum(p);
    names = await kernelsUsedBy(() => trainingStep(p, momentum));
    tf.dispose([...Object.values(p), ...Object.values(momentum)]);

    expect(listMissingKernels(names, "wasm")).toEqual([]);
    // The profile did see the backward pass, including the kernels the runtime adds.
    for (const k of [
      "Conv2D",
      "Conv2DBackpropFilter",
      "Conv2DBackpropInput",
      "DepthwiseConv2dNative",
      "DepthwiseConv2dNativeBackpropFilter",
      "DepthwiseConv2dNativeBackpropInput",
      "MaxPoolGrad",
      "AvgPoolGrad",
      "FusedBatchNorm",
      "StridedSlice",
      "PadV2",
      "Concat",
      "GatherV2",
      "UnsortedSegmentSum",
      "OneHot",
      "BatchMatMul",
      "Sign",
      "ClipByValue",
      "Relu6",
    ]) {
      expect(names).toContain(k);
    }
    // No tensor was created on (or moved to) the cpu backend by the wasm step.
    expect(cpu.numDataIds()).toBe(cpuDataBefore);
  });

  it("gives the same loss, gradients, SGD update and PGD step as the cpu backend", async () => {
    const wasm = await runStep("wasm");
    const cpu = await runStep("cpu");
    expect(Number.isFinite(cpu.loss)).toBe(true);
    expect(Math.abs(wasm.loss - cpu.loss)).toBeLessThan(1e-4 * Math.abs(cpu.loss));
    for (const name of Object.keys(PARAM_SHAPES)) {
      const g = cpu.grads[name]!;
      expect(g.some((v) => v !== 0), `gradient of ${name} is all zeros`).toBe(true);
      expect(relError(wasm.grads[name]!, g), `gradient of ${name}`).toBeLessThan(1e-4);
      expect(relError(wasm.updated[name]!, cpu.updated[name]!), `updated ${name}`).toBeLessThan(1e-5);
    }
    expect(relError(wasm.inputGrad, cpu.inputGrad)).toBeLessThan(1e-4);
    // sign() of a tiny gradient entry may flip between backends; allow a few.
    let flips = 0;
    for (let i = 0; i < cpu.adversarial.length; i++) {
      if (Math.abs(wasm.adversarial[i]! - cpu.adversarial[i]!) > 1e-6) flips++;
    }
    expect(flips).toBeLessThanOrEqual(cpu.adversarial.length * 0.001);
  });
});
