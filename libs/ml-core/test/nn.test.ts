import "@tensorflow/tfjs-backend-cpu";
// Gradients (with the runtime's fixes to tfjs's own) are registered by the runtime.
import "../src/runtime/index.js";
import * as tf from "@tensorflow/tfjs-core";
import { beforeAll, describe, expect, it } from "vitest";
import {
  BN_MOMENTUM,
  CIFAR10_MEAN,
  CIFAR10_STD,
  drawWeights,
  dropoutMultiplier,
  globalAvgPool,
  InitRng,
  maxPool2d,
  ModelBuilder,
  type Network,
  pooledSize,
  relu,
  subsample2,
} from "../src/nn/index.js";
import type { ModelConfig } from "../src/nn/model.js";

beforeAll(async () => {
  await tf.setBackend("cpu");
});

/** Deterministic test data in [-1, 1). */
function values(n: number, seed: number): Float32Array {
  const rng = new InitRng(seed);
  return Float32Array.from({ length: n }, () => 2 * rng.next() - 1);
}

/** Plain-loop NHWC max pool with -inf padding: an independent reference. */
function bruteMaxPool(x: Float32Array, h: number, w: number, c: number, k: number, s: number, p: number, outH: number, outW: number): number[] {
  const out: number[] = [];
  for (let oy = 0; oy < outH; oy++)
    for (let ox = 0; ox < outW; ox++)
      for (let ch = 0; ch < c; ch++) {
        let m = -Infinity;
        for (let dy = 0; dy < k; dy++)
          for (let dx = 0; dx < k; dx++) {
            const y = oy * s - p + dy;
            const xx = ox * s - p + dx;
            if (y >= 0 && y < h && xx >= 0 && xx < w) m = Math.max(m, x[(y * w + xx) * c + ch] as number);
          }
        out.push(m);
      }
  return out;
}

describe("maxPool2d", () => {
  it("computes PyTorch output sizes, including ceil_mode", () => {
    // Values from torch.nn.MaxPool2d on these sizes.
    expect(pooledSize(16, 3, 2, 0, true)).toBe(8); // GoogLeNet maxpool1 on 32x32 input
    expect(pooledSize(16, 3, 2, 0, false)).toBe(7);
    expect(pooledSize(7, 2, 2, 0, true)).toBe(4); // vgg on 28x28: 7 -> 4
    expect(pooledSize(1, 2, 2, 0, true)).toBe(1);
    expect(pooledSize(5, 3, 1, 1, true)).toBe(5);
    // ceil would give 3, but the last window would start in the right padding: PyTorch drops it.
    expect(pooledSize(4, 2, 2, 1, true)).toBe(3);
    expect(pooledSize(5, 2, 3, 1, true)).toBe(2);
  });

  it.each([
    [5, 2, 2, 0, true],
    [16, 3, 2, 0, true],
    [7, 3, 1, 1, true],
    [6, 3, 2, 1, false],
    [4, 2, 2, 1, true],
  ] as const)("matches a brute-force pool (size %i, kernel %i, stride %i, pad %i, ceil %s)", (size, k, s, p, ceil) => {
    const c = 3;
    const data = values(size * size * c, size + k);
    const x = tf.tensor4d(data, [1, size, size, c]);
    const y = maxPool2d(x, k, s, p, ceil);
    const o = pooledSize(size, k, s, p, ceil);
    expect(y.shape).toEqual([1, o, o, c]);
    expect(Array.from(y.dataSync())).toEqual(bruteMaxPool(data, size, size, c, k, s, p, o, o).map(Math.fround));
    tf.dispose([x, y]);
  });

  it("passes gradients only to the maxima, never to the -inf padding", () => {
    const x = tf.tensor4d([1, 5, 2, 3, 4, 0, 9, 8, 7], [1, 3, 3, 1]);
    const g = tf.grad((t) => tf.sum(maxPool2d(t as tf.Tensor4D, 2, 2, 0, true)))(x);
    // Windows: {1,5,3,4} -> 5, {2,0} -> 2, {9,8} -> 9, {7} -> 7.
    expect(Array.from(g.dataSync())).toEqual([0, 1, 1, 0, 0, 0, 1, 0, 1]);
    tf.dispose([x, g]);
  });
});

describe("shape helpers", () => {
  it("subsample2 is x[:, ::2, ::2] for even and odd sizes", () => {
    for (const [h, w] of [
      [4, 6],
      [5, 3],
    ] as const) {
      const c = 2;
      const data = values(2 * h * w * c, h * w);
      const x = tf.tensor4d(data, [2, h, w, c]);
      const y = subsample2(x);
      const expected: number[] = [];
      for (let n = 0; n < 2; n++)
        for (let i = 0; i < h; i += 2) for (let j = 0; j < w; j += 2) for (let ch = 0; ch < c; ch++) expected.push(data[((n * h + i) * w + j) * c + ch] as number);
      expect(y.shape).toEqual([2, Math.ceil(h / 2), Math.ceil(w / 2), c]);
      expect(Array.from(y.dataSync())).toEqual(expected);
      tf.dispose([x, y]);
    }
  });

  it("globalAvgPool averages over height and width", () => {
    const x = tf.tensor4d([1, 10, 2, 20, 3, 30, 6, 60], [1, 2, 2, 2]);
    const y = globalAvgPool(x);
    expect(Array.from(y.dataSync())).toEqual([3, 30]);
    tf.dispose([x, y]);
  });
});

describe("initialisation", () => {
  const stats = (a: Float32Array) => {
    const mean = a.reduce((s, v) => s + v, 0) / a.length;
    const std = Math.sqrt(a.reduce((s, v) => s + (v - mean) ** 2, 0) / a.length);
    return { mean, std, max: a.reduce((m, v) => Math.max(m, Math.abs(v)), 0) };
  };
  it("follows PyTorch's formulas", () => {
    const fans = { fanIn: 144, fanOut: 288 };
    const n = 40000;
    const kaimingIn = stats(drawWeights(new InitRng(1), n, { kind: "kaiming_normal", mode: "fan_in" }, fans));
    expect(kaimingIn.std).toBeCloseTo(Math.sqrt(2 / 144), 2);
    const kaimingOut = stats(drawWeights(new InitRng(2), n, { kind: "kaiming_normal", mode: "fan_out" }, fans));
    expect(kaimingOut.std / Math.sqrt(2 / 288)).toBeCloseTo(1, 1);
    const uniform = stats(drawWeights(new InitRng(3), n, { kind: "pytorch_default" }, fans));
    expect(uniform.max).toBeLessThanOrEqual(1 / 12);
    expect(uniform.std / (1 / 12 / Math.sqrt(3))).toBeCloseTo(1, 1); // U(-b, b) has std b/sqrt(3)
    const trunc = stats(drawWeights(new InitRng(4), n, { kind: "trunc_normal", std: 1, a: -0.5, b: 0.5 }, fans));
    expect(trunc.max).toBeLessThanOrEqual(0.5);
    expect(Math.abs(kaimingIn.mean)).toBeLessThan(0.005);
  });

  it("is deterministic per seed", () => {
    const fans = { fanIn: 9, fanOut: 9 };
    const init = { kind: "normal", std: 1 } as const;
    expect(drawWeights(new InitRng(5), 10, init, fans)).toEqual(drawWeights(new InitRng(5), 10, init, fans));
    expect(drawWeights(new InitRng(5), 10, init, fans)).not.toEqual(drawWeights(new InitRng(6), 10, init, fans));
  });
});

/** conv(3x3, pad 1, bias) -> BN2d -> ReLU -> global average -> linear(4, 5) -> BN1d, on 6x6x3 inputs. */
function tinyNetwork(seed: number): Network {
  const config: ModelConfig = { architecture: "resnet20", numClasses: 5, inputShape: { height: 6, width: 6, channels: 3 } };
  const b = new ModelBuilder(seed);
  const conv = b.conv2d("conv", { inChannels: 3, outChannels: 4, kernelSize: 3, padding: 1, bias: true, init: { kind: "pytorch_default" } });
  const bn = b.batchNorm("bn", 4);
  const fc = b.linear("fc", 4, 5, { init: { kind: "pytorch_default" } });
  const bn1d = b.batchNorm("bn1d", 5, 1e-3);
  return b.build(config, (z, ctx) => bn1d.apply(fc.apply(globalAvgPool(relu(bn.apply(conv.apply(z, ctx), ctx))), ctx), ctx));
}

describe("ModelBuilder and Network", () => {
  it("names, orders and classifies parameters like a PyTorch state_dict", () => {
    const net = tinyNetwork(1);
    expect(net.params.map((p) => [p.name, p.kind, p.prunable, p.variable.shape])).toEqual([
      ["conv.weight", "conv", true, [3, 3, 3, 4]],
      ["conv.bias", "bias", true, [4]],
      ["bn.weight", "bn_weight", false, [4]],
      ["bn.bias", "bn_bias", false, [4]],
      ["fc.weight", "linear", true, [4, 5]],
      ["fc.bias", "bias", true, [5]],
      ["bn1d.weight", "bn_weight", false, [5]],
      ["bn1d.bias", "bn_bias", false, [5]],
    ]);
    expect(net.buffers.map((b) => b.name)).toEqual(["bn.running_mean", "bn.running_var", "bn1d.running_mean", "bn1d.running_var"]);
    expect(net.params.every((p) => p.variable.trainable)).toBe(true);
    expect(net.buffers.some((b) => b.variable.trainable)).toBe(false);
    net.dispose();
  });

  it("normalizes with the CIFAR-10 statistics (their means for one channel)", () => {
    const net = tinyNetwork(1);
    const x = tf.fill([1, 6, 6, 3], 0.5) as tf.Tensor4D;
    const z = net.normalize(x);
    const first = Array.from(z.dataSync().slice(0, 3));
    first.forEach((v, c) => expect(v).toBeCloseTo((0.5 - (CIFAR10_MEAN[c] as number)) / (CIFAR10_STD[c] as number), 5));
    expect(() => net.normalize(tf.zeros([1, 6, 6, 1]) as tf.Tensor4D)).toThrow(/expected NHWC input/);
    tf.dispose([x, z]);
    net.dispose();
  });

  it("training-mode BatchNorm normalises with batch statistics and commits PyTorch's running update", () => {
    const net = tinyNetwork(2);
    const bn = net.batchNorms[1]!; // the BatchNorm1d (eps 1e-3) on [N, 5]
    const z = tf.tensor4d(values(4 * 6 * 6 * 3, 9), [4, 6, 6, 3]);
    const p = new Map(net.params.map((e) => [e.name, e.variable]));
    // The BN1d input, recomputed with plain ops (BN2d in training mode by hand).
    const fcIn = tf.tidy(() => {
      const conv = tf.add(tf.conv2d(z, p.get("conv.weight") as tf.Tensor4D, 1, 1), p.get("conv.bias")!);
      const m = tf.moments(conv, [0, 1, 2]);
      const bnOut = tf.add(tf.mul(tf.div(tf.sub(conv, m.mean), tf.sqrt(tf.add(m.variance, 1e-5))), p.get("bn.weight")!), p.get("bn.bias")!);
      return tf.add(tf.matMul(tf.mean(tf.relu(bnOut), [1, 2]), p.get("fc.weight") as tf.Tensor2D), p.get("fc.bias")!);
    });
    const rows = fcIn.arraySync() as number[][];
    const features = [0, 1, 2, 3, 4];
    const batchMean = features.map((f) => rows.reduce((a, r) => a + (r[f] as number), 0) / 4);
    const sumSq = features.map((f) => rows.reduce((a, r) => a + ((r[f] as number) - (batchMean[f] as number)) ** 2, 0));

    const y = net.forwardNormalized(z, { training: true }).arraySync();
    rows.forEach((r, i) =>
      features.forEach((f) => {
        const expected = ((r[f] as number) - (batchMean[f] as number)) / Math.sqrt((sumSq[f] as number) / 4 + 1e-3);
        expect(y[i]![f]).toBeCloseTo(expected, 4);
      }),
    );
    net.commitBatchStats();
    const runningMean = Array.from(bn.runningMean.variable.dataSync());
    const runningVar = Array.from(bn.runningVar.variable.dataSync());
    features.forEach((f) => {
      expect(runningMean[f]).toBeCloseTo(BN_MOMENTUM * (batchMean[f] as number), 5);
      // Unbiased variance (divide by n - 1 = 3) goes into the running estimate.
      expect(runningVar[f]).toBeCloseTo(1 - BN_MOMENTUM + (BN_MOMENTUM * (sumSq[f] as number)) / 3, 5);
    });
    tf.dispose([z, fcIn]);
    net.dispose();
  });

  it("commits the statistics of several forwards one after the other, and discards without changes", () => {
    const net = tinyNetwork(3);
    const bn = net.batchNorms[0]!;
    const z1 = tf.tensor4d(values(2 * 6 * 6 * 3, 1), [2, 6, 6, 3]);
    const z2 = tf.tensor4d(values(2 * 6 * 6 * 3, 2), [2, 6, 6, 3]);
    const batchMean = (z: tf.Tensor4D) =>
      tf.tidy(() => {
        const p = new Map(net.params.map((e) => [e.name, e.variable]));
        return Array.from(tf.mean(tf.add(tf.conv2d(z, p.get("conv.weight") as tf.Tensor4D, 1, 1), p.get("conv.bias")!), [0, 1, 2]).dataSync());
      });
    const [m1, m2] = [batchMean(z1), batchMean(z2)];

    const tensorsBefore = tf.memory().numTensors;
    tf.dispose(net.forwardNormalized(z1, { training: true }));
    net.discardBatchStats();
    expect(tf.memory().numTensors).toBe(tensorsBefore);
    expect(Array.from(bn.runningMean.variable.dataSync())).toEqual([0, 0, 0, 0]);

    tf.dispose(net.forwardNormalized(z1, { training: true }));
    tf.dispose(net.forwardNormalized(z2, { training: true }));
    net.commitBatchStats();
    expect(tf.memory().numTensors).toBe(tensorsBefore);
    const running = Array.from(bn.runningMean.variable.dataSync());
    running.forEach((r, c) => expect(r).toBeCloseTo(0.9 * 0.1 * (m1[c] as number) + 0.1 * (m2[c] as number), 5));
    tf.dispose([z1, z2]);
    net.dispose();
  });

  it("masks multiply weights in the forward pass and block their gradients", () => {
    const net = tinyNetwork(4);
    const z = tf.tensor4d(values(2 * 6 * 6 * 3, 5), [2, 6, 6, 3]);
    const weight = net.params[0]!.variable;
    const mask = tf.tensor(Array.from({ length: weight.size }, (_, i) => (i % 3 === 0 ? 0 : 1)), weight.shape);
    const masks = new Map([["conv.weight", mask]]);
    const masked = net.forwardNormalized(z, { training: false, masks });
    const original = weight.clone();
    tf.tidy(() => weight.assign(tf.mul(weight, mask)));
    const zeroed = net.forwardNormalized(z, { training: false });
    expect(Array.from(masked.dataSync())).toEqual(Array.from(zeroed.dataSync()));
    weight.assign(original);

    const { grads } = tf.variableGrads(() => tf.sum(net.forwardNormalized(z, { training: false, masks })), [weight]);
    const g = grads[weight.name]!.dataSync();
    expect(g.some((v, i) => i % 3 !== 0 && v !== 0)).toBe(true);
    expect(g.every((v, i) => i % 3 !== 0 || v === 0)).toBe(true);
    tf.dispose([z, mask, masked, zeroed, original, ...Object.values(grads)]);
    net.dispose();
  });

  it("seeded dropout is reproducible, scaled by 1/(1-p), and off in eval mode", () => {
    const config: ModelConfig = { architecture: "resnet20", numClasses: 400, inputShape: { height: 20, width: 20, channels: 1 } };
    const net = new ModelBuilder(0).build(config, (z, ctx) => ctx.dropout(tf.reshape(z, [z.shape[0], 400]), 0.25));
    const z = tf.ones([2, 20, 20, 1]) as tf.Tensor4D;
    const run = (options: { training: boolean; dropoutSeed: number }) => {
      const y = net.forwardNormalized(z, options);
      const data = y.dataSync();
      y.dispose();
      return data;
    };
    const a = run({ training: true, dropoutSeed: 7 });
    const b = run({ training: true, dropoutSeed: 7 });
    const c = run({ training: true, dropoutSeed: 8 });
    const e = run({ training: false, dropoutSeed: 7 });
    expect(Array.from(a)).toEqual(Array.from(b));
    expect(Array.from(a)).not.toEqual(Array.from(c));
    expect(new Set(a)).toEqual(new Set([0, Math.fround(1 / 0.75)]));
    const dropped = a.filter((v) => v === 0).length / a.length;
    expect(dropped).toBeGreaterThan(0.18);
    expect(dropped).toBeLessThan(0.32);
    expect(Array.from(e).every((v) => v === 1)).toBe(true);
    net.dispose();
    z.dispose();
  });

  it("dropout's multiplier keeps 1 - p of the values, independently per layer and seed", () => {
    const n = 1_000_000;
    for (const rate of [0.1, 0.5, 0.9]) {
      const a = dropoutMultiplier(n, rate, 11);
      const b = dropoutMultiplier(n, rate, 12);
      const kept = a.filter((v) => v !== 0).length / n;
      // Binomial standard deviation sqrt(p(1-p)/n) <= 5e-4: 5 sigma.
      expect(Math.abs(kept - (1 - rate)), `rate ${rate}`).toBeLessThan(2.5e-3);
      expect(new Set(a)).toEqual(new Set([0, Math.fround(1 / (1 - rate))]));
      // Two streams agree where independent masks would: (1-p)^2 + p^2 of the time.
      const same = a.filter((v, i) => (v === 0) === (b[i] === 0)).length / n;
      expect(Math.abs(same - ((1 - rate) ** 2 + rate ** 2)), `rate ${rate}`).toBeLessThan(2.5e-3);
      // Neighbours are not correlated either.
      const pairs = a.filter((v, i) => i > 0 && (v === 0) === (a[i - 1] === 0)).length / (n - 1);
      expect(Math.abs(pairs - ((1 - rate) ** 2 + rate ** 2)), `rate ${rate}`).toBeLessThan(2.5e-3);
    }
  });
});
