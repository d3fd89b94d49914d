import "@tensorflow/tfjs-backend-cpu";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import { beforeAll, describe, expect, it } from "vitest";
import {
  applyMasks,
  CIFAR10_MEAN,
  CIFAR10_STD,
  createModel,
  findRepoRoot,
  globalAvgPool,
  ModelBuilder,
  readCifar10Dir,
  relu,
  Rng,
  saveWeights,
  decodeSafetensors,
  stratifiedSubset,
  type ArchitectureName,
  type Dataset,
  type Model,
  type ModelConfig,
  type Network,
} from "@gap/ml-core";
import {
  ACTIVATION_QMAX,
  calibrate,
  decodeQuantizedModel,
  dequantizeWeights,
  encodeQuantizedModel,
  fakeQuantize,
  fakeQuantizeTensor,
  foldBatchNorms,
  outputChannels,
  quantizationPoints,
  quantizedSize,
  quantizeModel,
  quantizeWeights,
  simulatedQuantizedModel,
  simulateQuantized,
  type Calibration,
} from "../src/index.js";

beforeAll(async () => {
  await tf.setBackend("cpu");
});

const config = (architecture: ArchitectureName): ModelConfig => ({ architecture, numClasses: 10, inputShape: { height: 32, width: 32, channels: 3 } });
const RESNET20 = config("resnet20");
const cifar = readCifar10Dir(join(findRepoRoot()!, "libs/ml-core/data/cifar10-sample"), "train");
const images = (count: number): Dataset => stratifiedSubset(cifar, count, 11);

/** BatchNorm statistics far from the identity (some negative gammas), as a trained model has. */
function randomizeBatchNorms(net: Network, seed: number): void {
  const rng = new Rng(seed);
  tf.tidy(() => {
    for (const bn of net.batchNorms) {
      const n = bn.weight.variable.size;
      const draw = (f: () => number) => tf.tensor1d(Array.from({ length: n }, f));
      bn.weight.variable.assign(draw(() => (rng.nextFloat() < 0.15 ? -1 : 1) * (0.5 + rng.nextFloat())));
      bn.bias.variable.assign(draw(() => 0.2 * rng.normal()));
      bn.runningMean.variable.assign(draw(() => 0.3 * rng.normal()));
      bn.runningVar.variable.assign(draw(() => 0.5 + 1.5 * rng.nextFloat()));
    }
  });
}

const data = (t: tf.Tensor) => Array.from(t.dataSync());

describe("fakeQuantizeTensor", () => {
  it("rounds ties to even and clamps to [0, 127] exactly like fakeQuantize", () => {
    const qp = { scale: 0.5, zeroPoint: 10 };
    // x / scale = k / 2: every odd k is a tie; the range runs past both clamps.
    const xs = Array.from({ length: 331 }, (_, k) => (k - 30) * 0.25);
    const x = tf.tensor1d(xs);
    const y = fakeQuantizeTensor(x, qp);
    expect(data(y)).toEqual(xs.map((v) => fakeQuantize(v, qp)));
    expect(fakeQuantize(0.75, qp)).toBe(1); // 1.5 -> 2 (even), not 1
    expect(fakeQuantize(1.25, qp)).toBe(1); // 2.5 -> 2
    tf.dispose([x, y]);
  });
});

describe("BatchNorm folding", () => {
  it("pairs every BatchNorm with the conv or linear it follows, in all four architectures", () => {
    // Expected BatchNorm module of each conv/linear module, by the reference naming.
    const expected: Record<string, (m: string) => string | null> = {
      resnet20: (m) => (m === "linear" ? null : m.replace(/conv(\d)$/, "bn$1")),
      vgg_bn_drop: (m) => (m === "classifier.5" ? null : m === "classifier.1" ? "classifier.2" : m.replace(/\.conv$/, ".bn")),
      googlenet: (m) => (m === "fc" ? null : m.replace(/\.conv$/, ".bn")),
      mobilenet_v2: (m) => (m === "classifier.1" ? null : m.replace(/\.(\d+)$/, (_, k: string) => `.${Number(k) + 1}`)),
    };
    for (const [arch, bnOf] of Object.entries(expected)) {
      const net = createModel(config(arch as ArchitectureName), 0);
      const layers = foldBatchNorms(net);
      expect(layers.map((l) => l.batchNorm)).toEqual(layers.map((l) => bnOf(l.module)));
      expect(layers.filter((l) => l.batchNorm !== null)).toHaveLength(net.batchNorms.length);
      expect(layers.map((l) => `${l.module}.weight`)).toEqual(net.params.filter((p) => ["conv", "depthwise_conv", "linear"].includes(p.kind)).map((p) => p.name));
      net.dispose();
    }
  });

  it("computes W' = W * gamma / sqrt(var + eps) and b' = beta + (b - mean) * gamma / sqrt(var + eps)", () => {
    const net = createModel(config("vgg_bn_drop"), 1);
    randomizeBatchNorms(net, 2);
    const layer = foldBatchNorms(net)[0]!; // features.0.conv (with a bias) + features.0.bn (eps 1e-3)
    const get = (name: string) => data(net.params.find((p) => p.name === name)?.variable ?? net.buffers.find((b) => b.name === name)!.variable);
    const [w, b, g, beta, mean, v] = ["features.0.conv.weight", "features.0.conv.bias", "features.0.bn.weight", "features.0.bn.bias", "features.0.bn.running_mean", "features.0.bn.running_var"].map(get) as number[][];
    const s = g!.map((gc, c) => gc / Math.sqrt(v![c]! + 1e-3));
    // HWIO [3, 3, 3, 64]: output channel = i % 64.
    w!.forEach((wi, i) => expect(layer.weight[i]).toBeCloseTo(wi * s[i % 64]!, 6));
    s.forEach((sc, c) => expect(layer.bias![c]).toBeCloseTo(beta![c]! + (b![c]! - mean![c]!) * sc, 6));
    net.dispose();
  });

  it("gives the same int8 values and outputs as quantizing the conv per channel and applying BatchNorm after", () => {
    const builder = new ModelBuilder(7);
    const conv = builder.conv2d("conv", { inChannels: 3, outChannels: 4, kernelSize: 3, padding: 1, bias: true, init: { kind: "pytorch_default" } });
    const bn = builder.batchNorm("bn", 4, 1e-3);
    const net = builder.build({ architecture: "resnet20", numClasses: 4, inputShape: { height: 6, width: 6, channels: 3 } }, (z, ctx) =>
      globalAvgPool(bn.apply(conv.apply(z, ctx), ctx)),
    );
    const gamma = [1.3, -0.7, 0.05, 2.4];
    const beta = [0.1, -0.2, 0.3, 0];
    const mean = [0.5, -0.1, 0.02, 1];
    const variance = [0.8, 2, 0.01, 1.5];
    tf.tidy(() => {
      bn.weight.variable.assign(tf.tensor1d(gamma));
      bn.bias.variable.assign(tf.tensor1d(beta));
      bn.runningMean.variable.assign(tf.tensor1d(mean));
      bn.runningVar.variable.assign(tf.tensor1d(variance));
    });
    const channelOf = (i: number) => i % 4;
    const [folded] = foldBatchNorms(net);
    const qFolded = quantizeWeights(folded!.weight, 4, channelOf);
    const qPlain = quantizeWeights(Float32Array.from(conv.weight.variable.dataSync()), 4, channelOf);
    // q' = sign(s) q and scale' = |s| scale, with s = gamma / sqrt(var + eps).
    const s = gamma.map((g, c) => g / Math.sqrt(variance[c]! + 1e-3));
    expect(Array.from(qFolded.values)).toEqual(Array.from(qPlain.values, (q, i) => (q === 0 ? 0 : Math.sign(s[channelOf(i)]!) * q)));
    qFolded.scales.forEach((scale, c) => expect(scale / (Math.abs(s[c]!) * qPlain.scales[c]!)).toBeCloseTo(1, 6));

    const x = tf.randomUniform([2, 6, 6, 3], -1, 1, "float32", 5) as tf.Tensor4D;
    const w = (q: typeof qPlain) => tf.tensor4d(dequantizeWeights(q, channelOf), [3, 3, 3, 4]);
    const foldedOut = tf.tidy(() => tf.add(tf.conv2d(x, w(qFolded), 1, 1), folded!.bias!));
    const bnAfter = tf.tidy(() =>
      tf.batchNorm(tf.add(tf.conv2d(x, w(qPlain), 1, 1), conv.bias!.variable), tf.tensor1d(mean), tf.tensor1d(variance), tf.tensor1d(beta), tf.tensor1d(gamma), 1e-3),
    );
    const a = data(foldedOut);
    const b = data(bnAfter);
    const scale = Math.max(...b.map(Math.abs));
    a.forEach((v, i) => expect(Math.abs(v - b[i]!)).toBeLessThan(1e-5 * scale));
    tf.dispose([x, foldedOut, bnAfter]);
    net.dispose();
  });
});

describe("weight quantization of a real ResNet20", () => {
  it("keeps every folded weight within scale/2, scale = max|w| / 127 per output channel (or per tensor)", () => {
    const net = createModel(RESNET20, 3);
    randomizeBatchNorms(net, 4);
    const folded = foldBatchNorms(net);
    const calibration: Calibration = new Map([["input", { min: -2, max: 2 }]]);
    for (const perChannel of [true, false]) {
      const q = quantizeModel(net, calibration, { perChannel });
      expect(q.layers.map((l) => l.module)).toEqual(folded.map((l) => l.module));
      expect(q.layers).toHaveLength(20); // 19 convs and the classifier
      q.layers.forEach((layer, li) => {
        const w = folded[li]!.weight;
        const channels = perChannel ? outputChannels(layer.kind, layer.shape) : 1;
        const channelOf = (i: number) => (perChannel ? i % channels : 0);
        const maxAbs = new Array<number>(channels).fill(0);
        w.forEach((v, i) => (maxAbs[channelOf(i)] = Math.max(maxAbs[channelOf(i)]!, Math.abs(v))));
        expect(Array.from(layer.scales)).toEqual(maxAbs.map((m) => Math.fround(m / 127)));
        const reached = new Set<number>();
        let worst = 0; // largest |w - q * scale| / scale
        w.forEach((v, i) => {
          const scale = layer.scales[channelOf(i)]!;
          worst = Math.max(worst, Math.abs(v - layer.values[i]! * scale) / scale);
          if (Math.abs(layer.values[i]!) === 127) reached.add(channelOf(i));
        });
        expect(worst).toBeLessThanOrEqual(0.5 + 1e-6);
        expect(worst).toBeGreaterThan(0.45); // some weight does fall half-way between levels
        expect(Math.max(...Array.from(layer.values, Math.abs))).toBe(127);
        expect(reached.size).toBe(channels); // each channel's largest weight maps to +-127
      });
    }
    net.dispose();
  });

  it("keeps pruned weights exactly zero, in the int8 values and in the simulated model", () => {
    const net = createModel(RESNET20, 5);
    randomizeBatchNorms(net, 6);
    const rng = new Rng(9);
    const masks = new Map(net.params.filter((p) => p.prunable && p.kind === "conv").map((p) => [p.name, tf.tensor(Array.from({ length: p.variable.size }, () => (rng.nextFloat() < 0.5 ? 0 : 1)), p.variable.shape)] as const));
    applyMasks(net, masks);
    const q = quantizeModel(net, new Map(quantizationPoints(net).map((p) => [p, { min: -2, max: 2 }])), { perChannel: true });
    let pruned = 0;
    const nonzero: string[] = [];
    for (const layer of q.layers) {
      const mask = masks.get(`${layer.module}.weight`);
      if (!mask) continue;
      mask.dataSync().forEach((m, i) => {
        if (m === 0) {
          pruned++;
          if (layer.values[i] !== 0) nonzero.push(`${layer.module}[${i}]`);
        }
      });
    }
    expect(nonzero).toEqual([]);
    expect(pruned).toBeGreaterThan(100_000);
    // The simulated model's weights are exactly 0 there too.
    const sim = simulateQuantized(createModel(RESNET20, 0), q);
    for (const [name, mask] of masks) {
      const w = sim.params.find((p) => p.name === name)!.variable.dataSync();
      const m = mask.dataSync();
      expect(w.every((v, i) => m[i] === 1 || v === 0)).toBe(true);
    }
    sim.dispose();
    const size = quantizedSize(q);
    expect(size.sparseAfter).toBeLessThan(size.after);
    // Counted as a pruned float model is: the pruned weights are absent, the rest dense.
    expect(size.keptAfter).toBe(size.after);
    const maskBytes = new Map([...masks].map(([name, mask]) => [name, Uint8Array.from(mask.dataSync())]));
    expect(quantizedSize(q, maskBytes).keptAfter).toBe(size.after - pruned);
    net.dispose();
    tf.dispose([...masks.values()]);
  });
});

describe("calibration", () => {
  it("observes the running min/max at every point: the normalized input and the first fused conv, independently computed", async () => {
    const net = createModel(RESNET20, 12);
    randomizeBatchNorms(net, 13);
    const ds = images(40);
    const ranges = await calibrate(net, ds, { batchSize: 16 }); // 16 + 16 + 8
    // Input: (x - mean_c) / std_c over every pixel.
    let [lo, hi] = [Infinity, -Infinity];
    ds.images.forEach((v, i) => {
      const z = (v - CIFAR10_MEAN[i % 3]!) / CIFAR10_STD[i % 3]!;
      [lo, hi] = [Math.min(lo, z), Math.max(hi, z)];
    });
    expect(ranges.get("input")!.min).toBeCloseTo(lo, 5);
    expect(ranges.get("input")!.max).toBeCloseTo(hi, 5);
    // conv1: relu(bn1(conv1(z))) on all 40 images in one go.
    const [min, max] = tf.tidy(() => {
      const param = (name: string) => net.params.find((p) => p.name === name)!.variable;
      const buffer = (name: string) => net.buffers.find((b) => b.name === name)!.variable;
      const z = net.normalize(tf.tensor4d(ds.images, [40, 32, 32, 3]));
      const y = tf.relu(
        tf.batchNorm(tf.conv2d(z, param("conv1.weight") as tf.Tensor4D, 1, 1), buffer("bn1.running_mean"), buffer("bn1.running_var"), param("bn1.bias"), param("bn1.weight"), 1e-5),
      );
      return [tf.min(y).dataSync()[0]!, tf.max(y).dataSync()[0]!];
    });
    expect(ranges.get("conv1")!.min).toBe(0);
    expect(min).toBe(0);
    expect(ranges.get("conv1")!.max).toBeCloseTo(max, 4);
    const blocks = ["layer1", "layer2", "layer3"].flatMap((l) => [0, 1, 2].flatMap((i) => ["conv1", "conv2", "add"].map((p) => `${l}.${i}.${p}`)));
    expect([...ranges.keys()]).toEqual(["input", "conv1", ...blocks, "linear"]);
    expect(quantizationPoints(net)).toEqual([...ranges.keys()]);
    for (const [point, r] of ranges) {
      expect(r.min).toBeLessThanOrEqual(r.max);
      if (point.endsWith(".add") || point.endsWith(".conv1")) expect(r.min).toBe(0); // after a ReLU
    }
    expect(ranges.get("layer1.0.conv2")!.min).toBeLessThan(0); // conv+bn without ReLU
    net.dispose();
  });

  it("finds the quantization points of every architecture", () => {
    const counts: Record<string, [number, string[]]> = {
      // input, stem, 9 blocks x (conv1, conv2, add), linear
      resnet20: [30, ["input", "conv1", "layer1.0.conv1", "layer3.2.add", "linear"]],
      // input, 13 conv+bn+relu, Linear+BN1d+ReLU, logits
      vgg_bn_drop: [16, ["input", "features.0.conv", "features.24.conv", "classifier.1", "classifier.5"]],
      // input, 3 stem convs, 9 inceptions x (6 convs + cat), fc
      googlenet: [68, ["input", "conv1.conv", "conv3.conv", "inception3a.branch4.1.conv", "inception3a.cat", "inception5b.cat", "fc"]],
      // input, stem, 2 + 16 x 3 block convs, 10 residual adds, head, classifier
      mobilenet_v2: [64, ["input", "features.0.0", "features.1.conv.0.0", "features.1.conv.1", "features.2.conv.2", "features.3.add", "features.18.0", "classifier.1"]],
    };
    for (const [arch, [count, some]] of Object.entries(counts)) {
      const net = createModel(config(arch as ArchitectureName), 0);
      const points = quantizationPoints(net);
      expect(points).toHaveLength(count);
      expect(points).toEqual(expect.arrayContaining(some));
      expect(points[0]).toBe("input");
      expect(points[points.length - 1]).toBe(some[some.length - 1]);
      net.dispose();
    }
  });
});

/**
 * A hand-checkable network on 2x2x1 inputs: conv 1x1 (1 -> 2, no bias) + BN + ReLU,
 * global average pool, linear 2 -> 3 with bias. 2 + 4 + 6 + 3 = 15 parameters.
 */
function tinyNetwork(): Network {
  const b = new ModelBuilder(1);
  const conv = b.conv2d("conv", { inChannels: 1, outChannels: 2, kernelSize: 1, init: { kind: "pytorch_default" } });
  const bn = b.batchNorm("bn", 2);
  const fc = b.linear("fc", 2, 3, { init: { kind: "pytorch_default" }, classifier: true });
  const net = b.build({ architecture: "resnet20", numClasses: 3, inputShape: { height: 2, width: 2, channels: 1 } }, (z, ctx) => {
    const h = ctx.quant("conv", relu(bn.apply(conv.apply(z, ctx), ctx)));
    return ctx.quant("fc", fc.apply(ctx.quant("conv", globalAvgPool(h)), ctx));
  });
  tf.tidy(() => {
    conv.weight.variable.assign(tf.tensor4d([0.8, -0.5], [1, 1, 1, 2]));
    bn.weight.variable.assign(tf.tensor1d([1.5, -0.6]));
    bn.bias.variable.assign(tf.tensor1d([0.1, 0.3]));
    bn.runningMean.variable.assign(tf.tensor1d([0.2, -0.1]));
    bn.runningVar.variable.assign(tf.tensor1d([0.5, 2]));
    fc.weight.variable.assign(tf.tensor2d([[0.3, -1.2, 0.05], [0.7, 0.4, -0.9]]));
    fc.bias!.variable.assign(tf.tensor1d([0.01, -0.02, 0.03]));
  });
  return net;
}

describe("simulated int8 inference", () => {
  it("computes what int8 arithmetic gives, step by step, on a hand-checkable network", async () => {
    const net = tinyNetwork();
    const zs = [
      [0.3, -1.1, 2.0, 0.7],
      [-0.4, 0.05, 1.3, -2.2],
      [1.7, 0.9, -0.6, 0.2],
    ];
    const ds: Dataset = { images: Float32Array.from(zs.flat()), labels: Int32Array.from([0, 1, 2]), count: 3, height: 2, width: 2, channels: 1, numClasses: 3 };
    // Calibrate on the images as normalized inputs: the hand computation starts from z.
    const normalized: Model = {
      config: net.config,
      params: net.params,
      buffers: net.buffers,
      normalize: (x) => x,
      forwardNormalized: (z, o) => net.forwardNormalized(z, o),
      forward: (z, o) => net.forwardNormalized(z, o),
      commitBatchStats: () => {},
      discardBatchStats: () => {},
      dispose: () => {},
    };
    const ranges = await calibrate(normalized, ds, { batchSize: 2 });
    expect([...ranges.keys()]).toEqual(["input", "conv", "fc"]);
    const q = quantizeModel(net, ranges, { perChannel: true });

    // By hand: s = gamma / sqrt(var + eps); folded conv w' = w s, b' = beta - mean s.
    const s = [1.5 / Math.sqrt(0.5 + 1e-5), -0.6 / Math.sqrt(2 + 1e-5)];
    const wConv = [0.8 * s[0]!, -0.5 * s[1]!];
    const bConv = [0.1 - 0.2 * s[0]!, 0.3 + 0.1 * s[1]!];
    // Per-channel int8: each channel has one weight, so it maps to +-127 with scale |w| / 127.
    expect(Array.from(q.layers[0]!.values)).toEqual([127, 127]); // 0.8 * 2.12 > 0, -0.5 * -0.42 > 0
    q.layers[0]!.scales.forEach((sc, c) => expect(sc).toBeCloseTo(Math.abs(wConv[c]!) / 127, 7));
    // fc columns (output channels): max |w| 0.7, 1.2, 0.9.
    const wFc = [
      [0.3, -1.2, 0.05],
      [0.7, 0.4, -0.9],
    ];
    const fcScales = [0.7, 1.2, 0.9].map((m) => m / 127);
    expect(Array.from(q.layers[1]!.values)).toEqual([54, -127, 7, 127, 42, -127]); // round(0.3/0.7*127)=54, round(0.4/1.2*127)=42, round(0.05/0.9*127)=7

    const qp = (point: string) => q.activations.get(point)!;
    const fq = (x: number, point: string) => fakeQuantize(x, qp(point));
    const expected = zs.map((pixels) => {
      const zq = pixels.map((z) => fq(z, "input"));
      const pooled = [0, 1].map((c) => {
        const wq = Math.sign(wConv[c]!) * 127 * (Math.abs(wConv[c]!) / 127); // dequantized int8 weight
        const h = zq.map((z) => fq(Math.max(0, z * wq + bConv[c]!), "conv"));
        return fq((h[0]! + h[1]! + h[2]! + h[3]!) / 4, "conv");
      });
      return [0, 1, 2].map((k) => {
        const logit = [0, 1].reduce((sum, c) => sum + pooled[c]! * Math.round(wFc[c]![k]! / fcScales[k]!) * fcScales[k]!, 0.01 * [1, -2, 3][k]!);
        return fq(logit, "fc");
      });
    });
    const sim = simulateQuantized(net, q);
    const z = tf.tensor4d(ds.images, [3, 2, 2, 1]);
    const logits = sim.forwardNormalized(z, { training: false });
    const got = await logits.array();
    got.forEach((row, n) => row.forEach((v, k) => expect(v).toBeCloseTo(expected[n]![k]!, 5)));
    // Every logit is on the "fc" grid: (q - zp) * scale with an integer q in [0, 127].
    got.flat().forEach((v) => {
      const level = v / qp("fc").scale + qp("fc").zeroPoint;
      expect(Math.abs(level - Math.round(level))).toBeLessThan(1e-3);
      expect(Math.round(level)).toBeGreaterThanOrEqual(0);
      expect(Math.round(level)).toBeLessThanOrEqual(ACTIVATION_QMAX);
    });
    expect(() => sim.forwardNormalized(z, { training: true })).toThrow(/eval mode/);
    tf.dispose([z, logits]);
    sim.dispose();
  });

  it("counts the size by hand: int8 weights, scales, folded biases and 8 bytes per activation point", () => {
    const net = tinyNetwork();
    tf.tidy(() => {
      net.params[0]!.variable.assign(tf.tensor4d([0.8, 0], [1, 1, 1, 2])); // one conv weight pruned
      net.params.find((p) => p.name === "fc.weight")!.variable.assign(tf.tensor2d([[0.3, 0, 0.05], [0, 0.4, -0.9]]));
    });
    const calibration: Calibration = new Map(["input", "conv", "fc"].map((p) => [p, { min: -1, max: 1 }]));
    const perChannel = quantizedSize(quantizeModel(net, calibration, { perChannel: true }));
    // before: 15 params * 4. after: 8 int8 + (2 + 3 scales + 2 + 3 biases) * 4 + 3 points * 8 = 8 + 40 + 24.
    // sparse: bitmaps ceil(2/8) + ceil(6/8) = 2 bytes, 1 + 4 nonzero bytes, the rest as before.
    // kept: as after without a mask.
    expect(perChannel).toEqual({ before: 60, after: 72, sparseAfter: 71, keptAfter: 72 });
    const perTensor = quantizedSize(quantizeModel(net, calibration, { perChannel: false }));
    const perTensorAfter = 8 + (1 + 1 + 2 + 3) * 4 + 24;
    expect(perTensor).toEqual({ before: 60, after: perTensorAfter, sparseAfter: perTensorAfter - 1, keptAfter: perTensorAfter });
    // A mask pruning the zero conv weight drops its byte; fc's zeros are kept weights and stay counted.
    const masks = new Map([[net.params[0]!.name, Uint8Array.of(1, 0)]]);
    expect(quantizedSize(quantizeModel(net, calibration, { perChannel: true }), masks).keptAfter).toBe(71);
    net.dispose();
  });

  it("stays close to the float ResNet20 on real images, and leaks no tensors", async () => {
    const before = tf.memory().numTensors;
    const net = createModel(RESNET20, 21);
    randomizeBatchNorms(net, 22);
    const reference = tf.tidy(() => net.forward(tf.tensor4d(images(16).images, [16, 32, 32, 3]), { training: false }));
    const q = quantizeModel(net, await calibrate(net, images(64), { batchSize: 32 }), { perChannel: true });
    const sim = simulatedQuantizedModel(RESNET20, q);
    const logits = tf.tidy(() => sim.forward(tf.tensor4d(images(16).images, [16, 32, 32, 3]), { training: false }));
    const [a, b] = [data(reference), data(logits)];
    const spread = Math.sqrt(b.reduce((s, v) => s + v * v, 0) / b.length);
    const err = Math.sqrt(a.reduce((s, v, i) => s + (v - b[i]!) ** 2, 0) / a.length);
    expect(err).toBeLessThan(0.1 * spread);
    expect(err).toBeGreaterThan(0); // it does quantize
    tf.dispose([reference, logits]);
    sim.dispose();
    net.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe("quantized model artifact", () => {
  it("round-trips through safetensors with I8 weights in the PyTorch layout", async () => {
    const before = tf.memory().numTensors;
    const cfg = config("mobilenet_v2");
    const net = createModel(cfg, 31);
    randomizeBatchNorms(net, 32);
    const q = quantizeModel(net, await calibrate(net, images(4), { batchSize: 4 }), { perChannel: true });
    const bytes = encodeQuantizedModel(q, { note: "test" });
    const back = decodeQuantizedModel(bytes);
    expect(back.config).toEqual(q.config);
    expect(back.perChannel).toBe(true);
    expect(back.floatParameters).toBe(2_236_682);
    expect(back.activations).toEqual(q.activations);
    expect(back.layers).toEqual(q.layers);

    // The PyTorch layout in the file, element by element.
    const { tensors, metadata } = decodeSafetensors(bytes);
    expect(metadata).toMatchObject({ kind: "quantized_model", architecture: "mobilenet_v2", note: "test", bits: "8" });
    const layer = (m: string) => q.layers.find((l) => l.module === m)!;
    const stem = tensors["features.0.0.weight"]!; // tfjs [3, 3, 3, 32] -> torch [32, 3, 3, 3]
    expect(stem).toMatchObject({ dtype: "I8", shape: [32, 3, 3, 3] });
    expect(stem.data[((5 * 3 + 2) * 3 + 1) * 3 + 0]).toBe(layer("features.0.0").values[((1 * 3 + 0) * 3 + 2) * 32 + 5]); // [o5,i2,h1,w0]
    const depthwise = tensors["features.1.conv.0.0.weight"]!; // tfjs [3, 3, 32, 1] -> torch [32, 1, 3, 3]
    expect(depthwise).toMatchObject({ dtype: "I8", shape: [32, 1, 3, 3] });
    expect(depthwise.data[(7 * 3 + 2) * 3 + 1]).toBe(layer("features.1.conv.0.0").values[(2 * 3 + 1) * 32 + 7]); // [c7,0,h2,w1]
    const classifier = tensors["classifier.1.weight"]!; // tfjs [1280, 10] -> torch [10, 1280]
    expect(classifier).toMatchObject({ dtype: "I8", shape: [10, 1280] });
    expect(classifier.data[3 * 1280 + 100]).toBe(layer("classifier.1").values[100 * 10 + 3]);
    expect(tensors["features.0.0.weight_scale"]).toMatchObject({ dtype: "F32", shape: [32] });
    expect(tensors["features.0.0.bias"]).toMatchObject({ dtype: "F32", shape: [32] }); // the folded BatchNorm

    // The decoded artifact simulates exactly like the original record.
    const x = tf.tensor4d(images(2).images, [2, 32, 32, 3]);
    const [simA, simB] = [simulatedQuantizedModel(cfg, q), simulatedQuantizedModel(cfg, back)];
    const [ya, yb] = [simA.forward(x, { training: false }), simB.forward(x, { training: false })];
    expect(data(yb)).toEqual(data(ya));
    tf.dispose([x, ya, yb]);
    simA.dispose();
    simB.dispose();

    expect(() => decodeQuantizedModel(saveWeights(net))).toThrow(/not a quantized model/);
    expect(() => simulatedQuantizedModel(RESNET20, back)).toThrow(/mobilenet_v2/);
    net.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it("refuses a quantized model whose points or layers do not fit the architecture", () => {
    const net = createModel(RESNET20, 1);
    const points = quantizationPoints(net);
    const all: Calibration = new Map(points.map((p) => [p, { min: -1, max: 1 }]));
    const q = quantizeModel(net, all, { perChannel: true });
    const missingPoint = { ...q, activations: new Map([...q.activations].filter(([p]) => p !== "layer2.1.add")) };
    expect(() => simulatedQuantizedModel(RESNET20, missingPoint)).toThrow(/layer2\.1\.add/);
    const missingLayer = { ...q, layers: q.layers.filter((l) => l.module !== "layer1.0.conv2") };
    expect(() => simulatedQuantizedModel(RESNET20, missingLayer)).toThrow(/layer1\.0\.conv2\.weight/);
    net.dispose();
  });
});
