// Every native (oneDNN) kernel against the cpu backend on seeded random
// shapes and values. Skipped, with the reason, when the addon is not built.
import { beforeAll, describe, expect, it } from "vitest";
import { maxRelErr } from "./rel-err.js";
import * as tf from "@tensorflow/tfjs-core";
import {
  addRelu,
  BatchNorm,
  convPrimitives,
  fakeQuantize,
  ForwardContext,
  initBackend,
  nativeKernelCalls,
  nativeStatus,
  setNativeKernelsActive,
  NATIVE_BN_GRAD,
  NATIVE_BN_TRAIN,
  NATIVE_CONV_FUSED,
  NATIVE_FOLD_FILTER,
} from "@gap/ml-core";

await initBackend("cpu", { log: () => {} });
await initBackend("wasm", { log: () => {} });
const status = nativeStatus();
const skip = !status.enabled;
if (skip) console.warn(`native kernel tests skipped: ${status.reason}`);

/** Mulberry32: deterministic values without touching tfjs's RNG. */
function rng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const randn = (r: () => number, n: number) => Float32Array.from({ length: n }, () => 2 * r() - 1);
/** A training batch norm's random inputs for a shape whose last axis is C: x (centred on 0.5, spread 3), gamma, beta and dy. */
function bnInputs(r: () => number, shape: number[]) {
  const c = shape[shape.length - 1]!;
  const size = shape.reduce((a, b) => a * b, 1);
  return { c, x: Float32Array.from(randn(r, size), (v) => 3 * v + 0.5), gamma: randn(r, c), beta: randn(r, c), dy: randn(r, size) };
}

/** Runs `f` on a backend with copies of `inputs`, returning plain arrays. */
async function on(backend: "cpu" | "wasm", inputs: Array<[Float32Array, number[]]>, f: (...t: tf.Tensor[]) => tf.Tensor | tf.Tensor[]) {
  await tf.setBackend(backend);
  const ts = inputs.map(([v, s]) => tf.tensor(v, s, "float32"));
  const out = tf.tidy(() => f(...ts));
  const outs = Array.isArray(out) ? out : [out];
  const values = await Promise.all(outs.map((o) => o.data() as Promise<Float32Array>));
  const shapes = outs.map((o) => o.shape);
  tf.dispose([...ts, ...outs]);
  return { values, shapes };
}

/** max |a - b| / max(1, max |b|): relative to the output's scale. */
const relErr = (a: Float32Array, b: Float32Array) => maxRelErr(a, b, 1);

async function compare(inputs: Array<[Float32Array, number[]]>, f: (...t: tf.Tensor[]) => tf.Tensor | tf.Tensor[], tol = 1e-5) {
  const before = tf.memory().numTensors;
  const ref = await on("cpu", inputs, f);
  const got = await on("wasm", inputs, f);
  expect(tf.memory().numTensors).toBe(before);
  expect(got.shapes).toEqual(ref.shapes);
  for (let i = 0; i < ref.values.length; i++) {
    expect(got.values[i]!.length).toBe(ref.values[i]!.length);
    expect(relErr(got.values[i]!, ref.values[i]!)).toBeLessThanOrEqual(tol);
  }
}

/** Batch norm forward (batch stats, biased variance) and backward in float64: y, mean, var, dx, dgamma, dbeta. */
function bnReference(x: Float32Array, gamma: Float32Array, beta: Float32Array, dy: Float32Array, c: number, eps: number): Float32Array[] {
  const m = x.length / c;
  const mean = new Float64Array(c);
  const variance = new Float64Array(c);
  for (let i = 0; i < x.length; i++) mean[i % c]! += x[i]! / m;
  for (let i = 0; i < x.length; i++) variance[i % c]! += (x[i]! - mean[i % c]!) ** 2 / m;
  const inv = Float64Array.from(variance, (v) => 1 / Math.sqrt(v + eps));
  const y = new Float32Array(x.length);
  const dbeta = new Float64Array(c);
  const dgamma = new Float64Array(c);
  for (let i = 0; i < x.length; i++) {
    const k = i % c;
    const xh = (x[i]! - mean[k]!) * inv[k]!;
    y[i] = gamma[k]! * xh + beta[k]!;
    dbeta[k]! += dy[i]!;
    dgamma[k]! += dy[i]! * xh;
  }
  const dx = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const k = i % c;
    const xh = (x[i]! - mean[k]!) * inv[k]!;
    dx[i] = gamma[k]! * inv[k]! * (dy[i]! - dbeta[k]! / m - (xh * dgamma[k]!) / m);
  }
  return [y, Float32Array.from(mean), Float32Array.from(variance), dx, Float32Array.from(dgamma), Float32Array.from(dbeta)];
}

type Pad = "same" | "valid" | number | [[number, number], [number, number], [number, number], [number, number]];
interface ConvCase {
  n: number;
  h: number;
  w: number;
  ci: number;
  co: number;
  k: [number, number];
  s: number | [number, number];
  pad: Pad;
  rounding?: "floor" | "ceil" | "round";
  dilation?: number;
}

const CASES: ConvCase[] = [
  { n: 2, h: 8, w: 8, ci: 3, co: 16, k: [3, 3], s: 1, pad: "same" },
  { n: 3, h: 9, w: 7, ci: 16, co: 16, k: [3, 3], s: 1, pad: 1 },
  { n: 2, h: 16, w: 16, ci: 16, co: 32, k: [3, 3], s: 2, pad: 1 },
  { n: 2, h: 15, w: 10, ci: 32, co: 64, k: [3, 3], s: 2, pad: "same" },
  { n: 2, h: 11, w: 13, ci: 16, co: 32, k: [3, 3], s: 2, pad: "valid" },
  { n: 2, h: 10, w: 9, ci: 32, co: 16, k: [1, 1], s: 1, pad: "valid" },
  { n: 4, h: 8, w: 8, ci: 16, co: 32, k: [1, 1], s: 2, pad: "valid" },
  { n: 2, h: 7, w: 12, ci: 64, co: 64, k: [3, 3], s: [1, 2], pad: "same" },
  { n: 2, h: 9, w: 8, ci: 3, co: 32, k: [3, 2], s: 1, pad: [[0, 0], [2, 0], [1, 1], [0, 0]] },
  { n: 2, h: 9, w: 9, ci: 16, co: 16, k: [3, 3], s: 2, pad: [[0, 0], [0, 1], [1, 0], [0, 0]] },
  { n: 2, h: 10, w: 10, ci: 16, co: 16, k: [3, 3], s: 2, pad: 0, rounding: "ceil" },
  { n: 2, h: 12, w: 11, ci: 16, co: 32, k: [3, 3], s: 1, pad: "same", dilation: 2 },
  // Channel counts off the 16-blocks (zero padding in the blocked weights).
  { n: 2, h: 8, w: 8, ci: 5, co: 24, k: [3, 3], s: 1, pad: 1 },
  // Over 2^18 weights: oneDNN's own weight reorder instead of the offset table.
  { n: 1, h: 4, w: 4, ci: 256, co: 128, k: [3, 3], s: 1, pad: 1 },
  // Small images with many channels: activations staged in oneDNN's blocked layout
  // (forward and input gradient; activationLayout in src/conv.cc), channels off the 16-blocks too.
  { n: 1, h: 4, w: 4, ci: 256, co: 512, k: [3, 3], s: 1, pad: 1 },
  { n: 2, h: 2, w: 3, ci: 264, co: 520, k: [3, 3], s: 1, pad: "same" },
  // Large filters over few input channels: the input gradient on plain nchw (oneDNN's gemm).
  { n: 2, h: 16, w: 16, ci: 3, co: 16, k: [7, 7], s: 2, pad: "same" },
  { n: 2, h: 15, w: 13, ci: 5, co: 24, k: [5, 5], s: 1, pad: 2 },
  // 3x3, stride 1, from 64 input channels: Winograd (winograd in src/conv.cc).
  { n: 2, h: 9, w: 7, ci: 64, co: 48, k: [3, 3], s: 1, pad: 1 },
  { n: 3, h: 8, w: 8, ci: 64, co: 64, k: [3, 3], s: 1, pad: "same" },
  { n: 2, h: 6, w: 10, ci: 64, co: 32, k: [3, 3], s: 1, pad: "valid" },
  // Padding of 2: oneDNN refuses Winograd, and the conv falls back to direct.
  { n: 2, h: 8, w: 7, ci: 64, co: 32, k: [3, 3], s: 1, pad: [[0, 0], [2, 0], [0, 2], [0, 0]] },
  // 3x3, stride 1, padding 1 onto 16 or 32 channels, images 16 (or 8) columns wide: our own kernel (src/conv3x3.cc).
  // Three tiles a row (edges and middle); the input gradient too (from 16 channels onto 16 or 32).
  { n: 2, h: 4, w: 48, ci: 16, co: 16, k: [3, 3], s: 1, pad: "same" },
  { n: 2, h: 6, w: 8, ci: 32, co: 32, k: [3, 3], s: 1, pad: 1 },
  { n: 1, h: 3, w: 16, ci: 48, co: 16, k: [3, 3], s: 1, pad: "same" },
  { n: 2, h: 1, w: 8, ci: 16, co: 32, k: [3, 3], s: 1, pad: 1 },
  // Image stems: any input count below 16 (the forward; the input gradient onto 3 or 5 channels stays on oneDNN).
  { n: 2, h: 5, w: 32, ci: 3, co: 16, k: [3, 3], s: 1, pad: "same" },
  { n: 2, h: 3, w: 8, ci: 5, co: 32, k: [3, 3], s: 1, pad: 1 },
  // 1x1, stride 1, no padding: a matrix product over the pixels (pointwise in src/conv.cc), channels off the 16-blocks too.
  { n: 3, h: 1, w: 1, ci: 83, co: 38, k: [1, 1], s: 1, pad: "same" },
  { n: 2, h: 2, w: 3, ci: 1, co: 7, k: [1, 1], s: 1, pad: 0 },
];

const label = (c: ConvCase) =>
  `[${c.n},${c.h},${c.w},${c.ci}] k${c.k.join("x")} ->${c.co} s${JSON.stringify(c.s)} pad ${JSON.stringify(c.pad)}${c.rounding ? " " + c.rounding : ""}${c.dilation ? " dil" + c.dilation : ""}`;

describe.skipIf(skip)("native oneDNN kernels vs cpu", () => {
  beforeAll(() => setNativeKernelsActive(true));

  it.each(CASES.map((c, i) => [label(c), c, i] as const))("Conv2D, Conv2DBackpropInput, Conv2DBackpropFilter %s", async (_, c, i) => {
    const r = rng(1000 + i);
    const x = randn(r, c.n * c.h * c.w * c.ci);
    const w = randn(r, c.k[0] * c.k[1] * c.ci * c.co);
    const xShape = [c.n, c.h, c.w, c.ci];
    const wShape = [c.k[0], c.k[1], c.ci, c.co];
    const dil = c.dilation ?? 1;
    const conv = (xt: tf.Tensor, wt: tf.Tensor) =>
      tf.conv2d(xt as tf.Tensor4D, wt as tf.Tensor4D, c.s, c.pad as never, "NHWC", dil, c.rounding);
    await compare([[x, xShape], [w, wShape]], conv);
    if (dil !== 1) return; // no conv gradient with dilation in tfjs
    const outShape = await on("cpu", [[x, xShape], [w, wShape]], conv).then((o) => o.shapes[0]!);
    const dy = randn(r, outShape.reduce((a, b) => a * b, 1));
    const run = (kernel: string, inputs: Record<string, tf.Tensor>, extra: object) =>
      tf.engine().runKernel(kernel, inputs, { strides: c.s, pad: c.pad, dataFormat: "NHWC", dimRoundingMode: c.rounding, ...extra } as never) as tf.Tensor;
    await compare([[dy, outShape], [w, wShape]], (d, wt) => run("Conv2DBackpropInput", { dy: d!, filter: wt! }, { inputShape: xShape }));
    await compare([[x, xShape], [dy, outShape]], (xt, d) => run("Conv2DBackpropFilter", { x: xt!, dy: d! }, { filterShape: wShape }), 2e-5);
  });

  it("runs 3x3 stride-1 convs from 64 input channels by Winograd, in all three directions, the rest direct", async () => {
    const primitives = () => convPrimitives()!;
    await tf.setBackend("wasm");
    // [image side, input channels]: how many of the three directions run Winograd.
    const expected: Array<[number, number, number]> = [[5, 64, 3], [4, 128, 3], [5, 32, 0], [2, 64, 0]];
    for (const [side, ci, count] of expected) {
      const before = primitives().winograd;
      const x = tf.ones([2, side, side + 1, ci]);
      const w = tf.ones([3, 3, ci, 48]);
      const dy = tf.ones([2, side, side + 1, 48]);
      const attrs = { strides: 1, pad: "same", dataFormat: "NHWC" };
      const outs = [
        tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1, "same"),
        tf.engine().runKernel("Conv2DBackpropInput", { dy, filter: w }, { ...attrs, inputShape: x.shape } as never) as tf.Tensor,
        tf.engine().runKernel("Conv2DBackpropFilter", { x, dy }, { ...attrs, filterShape: w.shape } as never) as tf.Tensor,
      ];
      // y at pixel (1, 1): a sum of ones over the taps inside the image (Winograd's transforms round: close, not exact).
      const taps = Math.min(3, side) * Math.min(3, side + 1);
      expect((await outs[0]!.data())[(side + 1 + 1) * 48]).toBeCloseTo(taps * ci, 2);
      tf.dispose([x, w, dy, ...outs]);
      expect(primitives().winograd - before, `${side}x${side + 1}x${ci}`).toBe(count);
    }
    // Padding of 2: oneDNN refuses Winograd and the conv falls back to direct (its values: the cases above).
    const { cached, winograd } = primitives();
    const [x, w] = [tf.ones([2, 5, 6, 64]), tf.ones([3, 3, 64, 48])];
    const y = tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1, [[0, 0], [2, 0], [0, 2], [0, 0]]);
    await y.data();
    tf.dispose([x, w, y]);
    expect([primitives().cached - cached, primitives().winograd - winograd]).toEqual([1, 0]);
  });

  it("runs 3x3 stride-1 padding-1 convs onto 16 or 32 channels from 16s (or fewer than 16) on the addon's own kernel, forward and input gradient", async () => {
    await tf.setBackend("wasm");
    const calls = () => convPrimitives()!.conv3x3Calls;
    // [image width, input channels, output channels, padding]: how many of forward and input gradient run on it.
    const expected: Array<[number, number, number, number, number]> = [
      [32, 16, 16, 1, 2],
      [16, 32, 32, 1, 2],
      [8, 16, 32, 1, 1], // input gradient onto 16 channels wants a width of 16s
      [16, 16, 48, 1, 1], // forward onto 48 channels: oneDNN
      [16, 3, 16, 1, 1], // an image stem: the forward (the input gradient onto 3 channels: oneDNN)
      [8, 24, 32, 1, 0], // from 24 channels: oneDNN
      [20, 16, 16, 1, 0], // a width off the tiles
      [16, 16, 16, 0, 0],
    ];
    for (const [width, ci, co, pad, count] of expected) {
      const before = calls();
      const x = tf.ones([2, 3, width, ci]);
      const w = tf.ones([3, 3, ci, co]);
      const y = tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1, pad);
      const dy = tf.onesLike(y);
      const dx = tf.engine().runKernel("Conv2DBackpropInput", { dy, filter: w }, { strides: 1, pad, dataFormat: "NHWC", inputShape: x.shape } as never) as tf.Tensor;
      // y at row 1, column 1: every tap inside the image (for padding 1).
      expect((await y.data())[(width + 1) * co]).toBe(9 * ci);
      tf.dispose([x, w, y, dy, dx]);
      expect(calls() - before, `${width} wide, ${ci} -> ${co}, padding ${pad}`).toBe(count);
    }
  });

  it("Slice (strided, rank 1-4, float32 and int32) matches cpu exactly", async () => {
    const r = rng(21);
    for (const [shape, begin, size] of [
      [[64, 2, 16, 32], [0, 0, 0, 0], [64, 1, 16, 32]],
      [[6, 5, 7, 3], [1, 2, 3, 1], [4, 2, 3, 2]],
      [[9, 8, 5], [2, 1, 0], [5, -1, 4]],
      [[7, 9], [1, 3], [5, 4]],
      [[10], [3], [4]],
    ] as Array<[number[], number[], number[]]>) {
      const n = shape.reduce((a, b) => a * b, 1);
      await compare([[randn(r, n), shape]], (x) => tf.slice(x!, begin, size), 0);
      await compare([[Float32Array.from({ length: n }, (_, i) => i), shape]], (x) => tf.slice(tf.cast(x!, "int32"), begin, size), 0);
    }
  });

  it("FusedBatchNorm (inference) with and without scale/offset, rank 4 and 2", async () => {
    const r = rng(7);
    for (const [shape, withAffine] of [
      [[3, 5, 7, 16], true],
      [[2, 4, 4, 32], false],
      [[6, 64], true],
    ] as Array<[number[], boolean]>) {
      const c = shape[shape.length - 1]!;
      const size = shape.reduce((a, b) => a * b, 1);
      const variance = Float32Array.from({ length: c }, () => 0.1 + r());
      const inputs: Array<[Float32Array, number[]]> = [
        [randn(r, size), shape],
        [randn(r, c), [c]],
        [variance, [c]],
        [randn(r, c), [c]],
        [randn(r, c), [c]],
      ];
      await compare(inputs, (x, m, v, o, s) => tf.batchNorm(x!, m!, v!, withAffine ? o : undefined, withAffine ? s : undefined, 1e-5));
    }
  });

  it("training batch norm forward and backward (GapBatchNormTrain/Grad, with and without a ReLU mask) match a float64 reference", async () => {
    const r = rng(13);
    // C = 8..64 in steps of 8 sums in AVX-512 registers where the CPU has them; 12 and 72 do not.
    for (const shape of [
      [16, 16, 16, 32],
      [5, 3, 7, 64],
      [8, 16],
      [63, 8],
      [6, 5, 2, 24],
      [3, 4, 5, 40],
      [2, 9, 1, 56],
      [4, 3, 3, 12],
      [5, 72],
    ]) {
      const { c, x, gamma, beta, dy } = bnInputs(r, shape);
      // The fused BN + ReLU's output as the mask: dy counts where it is > 0 (not where it is 0, negative or NaN).
      const mask = Float32Array.from(randn(r, x.length), (v, i) => (i % 11 === 0 ? NaN : i % 13 === 0 ? 0 : v));
      const eps = 1e-5;
      const ref = bnReference(x, gamma, beta, dy, c, eps);
      const masked = bnReference(x, gamma, beta, Float32Array.from(dy, (d, i) => (mask[i]! > 0 ? d : 0)), c, eps).slice(3);
      const got = await on("wasm", [[x, shape], [gamma, [c]], [beta, [c]], [dy, shape], [mask, shape]], (xt, g, b, d, m) => {
        const [y, mean, variance] = tf.engine().runKernel(NATIVE_BN_TRAIN, { x: xt!, scale: g!, offset: b! }, { eps } as never) as tf.Tensor[];
        const grads = tf.engine().runKernel(NATIVE_BN_GRAD, { x: xt!, dy: d!, mean: mean!, variance: variance!, scale: g! }, { eps } as never) as tf.Tensor[];
        const maskedGrads = tf.engine().runKernel(NATIVE_BN_GRAD, { x: xt!, dy: d!, mean: mean!, variance: variance!, scale: g!, mask: m! }, { eps } as never) as tf.Tensor[];
        return [y!, mean!, variance!, ...grads, ...maskedGrads];
      });
      [...ref, ...masked].forEach((want, i) => expect(relErr(got.values[i]!, want), `output ${i} of [${shape}]`).toBeLessThan(2e-5));
    }
  });

  it("training batch norm forward and backward (GapBatchNormTrain/Grad) match the composed ops on cpu", async () => {
    const r = rng(11);
    for (const shape of [
      [4, 6, 5, 16],
      [8, 32],
    ]) {
      const { c, x, gamma, beta, dy } = bnInputs(r, shape);
      const eps = 1e-5;
      const axes = shape.length === 4 ? [0, 1, 2] : [0];
      // Reference: autodiff of the composed formula on cpu.
      const composed = (xt: tf.Tensor, g: tf.Tensor, b: tf.Tensor, d: tf.Tensor) => {
        const f = (xx: tf.Tensor, gg: tf.Tensor, bb: tf.Tensor) => {
          const { mean, variance } = tf.moments(xx, axes);
          return tf.add(tf.mul(tf.sub(xx, mean), tf.mul(gg, tf.rsqrt(tf.add(variance, eps)))), bb);
        };
        const y = f(xt, g, b);
        const grads = tf.grads((xx: tf.Tensor, gg: tf.Tensor, bb: tf.Tensor) => tf.sum(tf.mul(f(xx, gg, bb), d)))([xt, g, b]);
        const { mean, variance } = tf.moments(xt, axes);
        return [y, mean, variance, ...grads];
      };
      const ref = await on("cpu", [[x, shape], [gamma, [c]], [beta, [c]], [dy, shape]], (xt, g, b, d) => composed(xt!, g!, b!, d!));
      const got = await on("wasm", [[x, shape], [gamma, [c]], [beta, [c]], [dy, shape]], (xt, g, b, d) => {
        const [y, mean, variance] = tf.engine().runKernel(NATIVE_BN_TRAIN, { x: xt!, scale: g!, offset: b! }, { eps } as never) as tf.Tensor[];
        const grads = tf.engine().runKernel(NATIVE_BN_GRAD, { x: xt!, dy: d!, mean: mean!, variance: variance!, scale: g! }, { eps } as never) as tf.Tensor[];
        return [y!, mean!, variance!, ...grads];
      });
      for (let i = 0; i < ref.values.length; i++) {
        expect(got.shapes[i]).toEqual(ref.shapes[i]);
        expect(relErr(got.values[i]!, ref.values[i]!), `output ${i}`).toBeLessThan(1e-4);
      }
    }
  });

  it("GapDropout equals the JS multiplier path bit for bit, values and gradient (incl. -0, NaN, inf), per seed and layer", async () => {
    const r = rng(41);
    const n = 3 * 70_001; // odd size, over the two-thread threshold
    const x = Float32Array.from(randn(r, n), (v, i) => (i % 1000 === 1 ? NaN : i % 1000 === 2 ? -Infinity : i % 1000 === 3 ? -0 : v));
    const dy = randn(r, n);
    const run = async (native: boolean) => {
      setNativeKernelsActive(native);
      try {
        nativeKernelCalls(true);
        const ctx = new ForwardContext({ training: true, dropoutSeed: 1234 }, () => {});
        const out = tf.tidy(() => {
          const xt = tf.tensor2d(x, [3, n / 3]);
          const f = (t: tf.Tensor) => ctx.dropout(ctx.dropout(t, 0.3), 0.5); // two layers: two streams
          const y = f(xt);
          const g = tf.grad(f)(xt, tf.tensor2d(dy, [3, n / 3]));
          return [y, g];
        });
        const values = (await Promise.all(out.map((t) => t.data()))) as Float32Array[];
        tf.dispose(out);
        return { values, calls: nativeKernelCalls(true)["GapDropout"] ?? 0 };
      } finally {
        setNativeKernelsActive(true);
      }
    };
    const off = await run(false);
    const on = await run(true);
    expect([off.calls, on.calls]).toEqual([0, 6]); // y, then tf.grad's own forward and the two gradients
    on.values.forEach((v, i) => expect(v.findIndex((u, j) => !Object.is(u, off.values[i]![j])), ["y", "dx"][i]).toBe(-1));
    const kept = on.values[0]!.filter((v) => v !== 0).length / n;
    expect(Math.abs(kept - 0.35)).toBeLessThan(0.01); // (1 - 0.3) * (1 - 0.5), NaN inputs stay NaN
  });

  it("GapFakeQuantize equals the tf-op path bit for bit (ties to even, both clamps, -0, +-inf, NaN, magnitudes near 2^23), and on cpu", async () => {
    const r = rng(47);
    const n = 2 * 70_001; // over the two-thread threshold
    const grid = { scale: 0.05, zeroPoint: 57, qmin: 0, qmax: 127 };
    // Then values whose x / scale lie near 2^22 and 2^23, where rounding by adding 2^23 stops working.
    const special = [0.025, 0.075, -0.025, 12.5 * 0.05, -0, 1e9, -1e9, Infinity, -Infinity, NaN, 209715.225, -209715.225, 419430.375, 419430.425, -419430.4, -0.01];
    const x = Float32Array.from(randn(r, n), (v, i) => (i % 500 < special.length ? special[i % 500]! : 8 * v));
    const run = async (backend: "cpu" | "wasm", native: boolean) => {
      await tf.setBackend(backend);
      setNativeKernelsActive(native);
      try {
        nativeKernelCalls(true);
        const y = fakeQuantize(tf.tensor2d(x, [2, n / 2]), grid);
        const values = (await y.data()) as Float32Array;
        tf.dispose(y);
        return { values, calls: nativeKernelCalls(true)["GapFakeQuantize"] ?? 0 };
      } finally {
        setNativeKernelsActive(true);
      }
    };
    const cpu = await run("cpu", false);
    const off = await run("wasm", false);
    const on = await run("wasm", true);
    expect([cpu.calls, off.calls, on.calls]).toEqual([0, 0, 1]);
    // NaN aside: tfjs-backend-wasm's clip turns it into qmin, the cpu backend (and the kernel) keep it.
    expect(on.values.findIndex((u, j) => !Object.is(u, off.values[j]) && !Number.isNaN(x[j]!)), "native vs wasm tf ops").toBe(-1);
    expect(on.values.findIndex((u, j) => !Object.is(u, cpu.values[j])), "native vs cpu tf ops").toBe(-1);
    // Hand-computed: 0.025 / 0.05 = 0.5 rounds to 0, 0.075 / 0.05 = 1.5 to 2; the clamps at 0 - 57 and 127 - 57.
    expect(Array.from(on.values.slice(0, 4)).map((v) => Math.round(v / 0.05))).toEqual([0, 2, 0, 12]);
    expect(Number.isNaN(on.values[9])).toBe(true);
    const numbers = on.values.filter((v) => !Number.isNaN(v));
    expect(numbers.reduce((a, v) => Math.max(a, v), -Infinity)).toBeCloseTo((127 - 57) * 0.05, 5);
    expect(numbers.reduce((a, v) => Math.min(a, v), Infinity)).toBeCloseTo(-57 * 0.05, 5);
  });

  it("BatchMatMul (ranks 2 and 3, all four transpose combinations) runs on oneDNN and matches cpu; small ones stay on wasm", async () => {
    const r = rng(43);
    for (const [batch, m, k, n, native] of [
      [0, 128, 512, 256, true], // batch 0: rank-2 operands
      [1, 128, 512, 256, true],
      [3, 70, 90, 180, true],
      [0, 128, 64, 10, false], // under 2^20 multiply-adds
    ] as const) {
      for (const [ta, tb] of [
        [false, false],
        [true, false],
        [false, true],
        [true, true],
      ] as const) {
        const lead = batch === 0 ? [] : [batch];
        const aShape = [...lead, ...(ta ? [k, m] : [m, k])];
        const bShape = [...lead, ...(tb ? [n, k] : [k, n])];
        nativeKernelCalls(true);
        await compare([[randn(r, Math.max(batch, 1) * m * k), aShape], [randn(r, Math.max(batch, 1) * k * n), bShape]], (a, b) => tf.matMul(a!, b!, ta, tb), 1e-5);
        expect(nativeKernelCalls(true)["BatchMatMul"] ?? 0, `${batch}x${m}x${k}x${n} ${ta} ${tb}`).toBe(native ? 1 : 0);
      }
    }
  });

  it("Sum and Mean over a run of axes before the last run natively (in double) and match cpu; other reductions stay on wasm", async () => {
    const r = rng(37);
    const cases: Array<[number[], number[] | number, boolean, boolean]> = [
      [[8, 16, 16, 64], [0, 1, 2], false, true],
      [[8, 16, 16, 64], [2, 0, 1], true, true],
      [[300, 70], 0, false, true],
      [[300, 70], -2, true, true],
      [[8, 16, 16, 64], [1, 2], false, true], // global average pooling: one sum per image
      [[8, 16, 16, 64], [2, 1], true, true],
      [[6, 5, 7, 40, 3], [2, 3], false, true], // the run ends before two trailing axes
      [[8, 16, 16, 64], [1], false, true],
      [[8, 16, 16, 64], [0, 2], false, false], // not a run
      [[8, 16, 16, 64], [0, 1, 2, 3], false, false], // the last axis
      [[8, 16, 16, 64], [3], false, false],
      [[4, 4, 4], [0, 1], false, false], // small
    ];
    for (const [name, reduce] of [
      ["Sum", tf.sum],
      ["Mean", tf.mean],
    ] as const) {
      for (const [shape, axis, keepDims, native] of cases) {
        nativeKernelCalls(true);
        await compare([[randn(r, shape.reduce((a, b) => a * b, 1)), shape]], (x) => reduce(x!, axis, keepDims), 1e-5);
        expect(nativeKernelCalls(true)[name] ?? 0, `${name} [${shape}] axis ${JSON.stringify(axis)}`).toBe(native ? 1 : 0);
      }
    }
  });

  it("binary ops (per-channel either side and large same-shape natively; small on wasm) match cpu exactly", async () => {
    const r = rng(31);
    const ops: Array<[string, (a: tf.Tensor, b: tf.Tensor) => tf.Tensor]> = [
      ["Add", tf.add],
      ["Sub", tf.sub],
      ["Multiply", tf.mul],
      ["RealDiv", tf.div],
      ["Minimum", tf.minimum],
      ["Maximum", tf.maximum],
    ];
    const pairs: Array<[number[], number[]]> = [
      [[4, 32, 32, 16], [16]],
      [[16], [4, 32, 32, 16]],
      [[8, 32, 32, 3], [1, 1, 1, 3]], // C = 3: rows grouped in the addon
      [[3, 7, 900], [900]],
      [[4, 64, 64, 16], [4, 64, 64, 16]], // same shape, 2^18 elements: native
      [[4, 32, 32, 16], [4, 32, 32, 16]], // same shape under 2^18: stays on wasm
      [[2, 5, 5, 8], [8]], // small: stays on wasm
    ];
    nativeKernelCalls(true);
    for (const [name, op] of ops) {
      for (const [as, bs] of pairs) {
        const size = (s: number[]) => s.reduce((x, y) => x * y, 1);
        await compare([[randn(r, size(as)), as], [Float32Array.from(randn(r, size(bs)), (v) => v + 0.01), bs]], (a, b) => op(a!, b!), 0);
      }
      expect(nativeKernelCalls(true)[name], name).toBe(pairs.length - 2);
      // NaN and infinities through the same-shape path (min/max propagate NaN as tfjs).
      const special = Float32Array.from({ length: 1 << 18 }, (_, i) => [NaN, Infinity, -Infinity, 0, -0, 1.5][i % 6]!);
      const specialInputs: Array<[Float32Array, number[]]> = [[special, [1 << 18]], [Float32Array.from(special).reverse(), [1 << 18]]];
      const ref = (await on("cpu", specialInputs, (a, b) => op(a!, b!))).values[0]!;
      const got = (await on("wasm", specialInputs, (a, b) => op(a!, b!))).values[0]!;
      expect(got.findIndex((v, i) => !Object.is(v, ref[i])), name).toBe(-1);
      expect(nativeKernelCalls(true)[name], name).toBe(1);
    }
  });

  it("PadV2 (float32, rank 1-4, various constants) matches cpu exactly", async () => {
    const r = rng(51);
    for (const [shape, paddings, value] of [
      [[8, 16, 16, 16], [[0, 0], [0, 0], [0, 0], [8, 8]], 0],
      [[3, 5, 7, 2], [[1, 2], [0, 3], [2, 0], [1, 1]], -3.25],
      [[4, 6, 5], [[0, 1], [2, 2], [0, 0]], 1.5],
      [[7, 9], [[3, 0], [0, 4]], 0],
      [[10], [[2, 5]], 0],
    ] as Array<[number[], Array<[number, number]>, number]>) {
      const n = shape.reduce((a, b) => a * b, 1);
      nativeKernelCalls(true);
      await compare([[randn(r, n), shape]], (x) => tf.pad(x!, paddings, value), 0);
      expect(nativeKernelCalls()["PadV2"]).toBe(1);
    }
  });

  it("Concat (any axis, float32 and int32, empty inputs skipped) matches cpu exactly", async () => {
    const r = rng(53);
    for (const [shapes, axis] of [
      [[[4, 5, 6, 8], [4, 5, 6, 16], [4, 5, 6, 3]], 3],
      [[[4, 5, 6, 8], [4, 2, 6, 8]], 1],
      [[[3, 7], [5, 7], [0, 7]], 0],
      [[[6], [9]], -1],
    ] as Array<[number[][], number]>) {
      const inputs = shapes.map((s): [Float32Array, number[]] => [randn(r, s.reduce((a, b) => a * b, 1)), s]);
      nativeKernelCalls(true);
      await compare(inputs, (...xs) => tf.concat(xs, axis), 0);
      await compare(inputs, (...xs) => tf.concat(xs.map((x) => tf.cast(tf.mul(x, 100), "int32")), axis), 0);
      expect(nativeKernelCalls(true)["Concat"], JSON.stringify(shapes)).toBe(2);
    }
  });

  it("Sign (float32 from 16,384 elements natively) matches cpu exactly, including subnormals, +-0, NaN and +-inf", async () => {
    const r = rng(43);
    for (const [shape, native] of [
      [[8, 32, 32, 3], true],
      [[128, 129], true],
      [[7, 11], false],
    ] as Array<[number[], boolean]>) {
      const specials = [0, -0, NaN, Infinity, -Infinity, 1e-45, -1e-45];
      const n = shape.reduce((a, b) => a * b, 1);
      const x = Float32Array.from(randn(r, n), (v, i) => (i % 5 === 0 ? specials[(i / 5) % specials.length]! : v));
      nativeKernelCalls(true);
      await compare([[x, shape]], (t) => tf.sign(t!), 0);
      expect(nativeKernelCalls(true)["Sign"] ?? 0, `[${shape}]`).toBe(native ? 1 : 0);
    }
  });

  it("Relu and its gradient (GapReluGrad) match cpu exactly", async () => {
    const r = rng(41);
    for (const shape of [
      [4, 32, 32, 16],
      [3, 7, 11],
    ]) {
      const n = shape.reduce((a, b) => a * b, 1);
      // Some exact zeros: the gradient there is 0, as in tfjs and PyTorch.
      const x = Float32Array.from(randn(r, n), (v, i) => (i % 17 === 0 ? 0 : v));
      nativeKernelCalls(true);
      await compare([[x, shape], [randn(r, n), shape]], (xt, dy) => {
        const [y, g] = [tf.relu(xt!), tf.grad((v: tf.Tensor) => tf.relu(v))(xt!, dy!)];
        return [y, g];
      }, 0);
      if (n >= 16384) expect(nativeKernelCalls()["GapReluGrad"]).toBe(1);
    }
  });

  it("Relu6's gradient (GapRelu6Grad) matches cpu exactly, including x = 0 and x = 6", async () => {
    const r = rng(42);
    const shape = [4, 16, 16, 24];
    const n = shape.reduce((a, b) => a * b, 1);
    const x = Float32Array.from(randn(r, n), (v, i) => (i % 13 === 0 ? 0 : i % 11 === 0 ? 6 : 8 * v));
    nativeKernelCalls(true);
    await compare([[x, shape], [randn(r, n), shape]], (xt, dy) => tf.grad((v: tf.Tensor) => tf.relu6(v))(xt!, dy!), 0);
    expect(nativeKernelCalls()["GapRelu6Grad"]).toBe(1);
  });

  it("inference batch norm gradients (x natively via GapBatchNormInferenceGrad; mean, variance, scale, offset) match cpu", async () => {
    const r = rng(43);
    for (const [shape, withAffine] of [
      [[4, 16, 16, 32], true],
      [[3, 5, 7, 16], true],
      [[6, 64], true],
    ] as Array<[number[], boolean]>) {
      // (Without scale tfjs cannot save the missing input for backprop, on any backend.)
      const c = shape[shape.length - 1]!;
      const n = shape.reduce((a, b) => a * b, 1);
      const inputs: Array<[Float32Array, number[]]> = [
        [randn(r, n), shape],
        [randn(r, c), [c]],
        [Float32Array.from({ length: c }, () => 0.1 + r()), [c]],
        [randn(r, c), [c]],
        [randn(r, c), [c]],
        [randn(r, n), shape],
      ];
      nativeKernelCalls(true);
      await compare(inputs, (x, m, v, o, s, dy) => {
        const f = withAffine
          ? (a: tf.Tensor, b: tf.Tensor, cc: tf.Tensor, d: tf.Tensor, e: tf.Tensor) => tf.batchNorm(a, b, cc, d, e, 1e-5)
          : (a: tf.Tensor, b: tf.Tensor, cc: tf.Tensor) => tf.batchNorm(a, b, cc, undefined, undefined, 1e-5);
        const args = withAffine ? [x!, m!, v!, o!, s!] : [x!, m!, v!];
        return tf.grads(f as never)(args, dy!);
      }, 2e-5);
      expect(nativeKernelCalls()["GapBatchNormInferenceGrad"]).toBe(1);
    }
  });

  // bn(x) exactly 0 at x = 0 in channels with mean 0 and offset 0: the ReLU boundary.
  function bnReluInputs(r: () => number, shape: number[]): Array<[Float32Array, number[]]> {
    const c = shape[shape.length - 1]!;
    const n = shape.reduce((a, b) => a * b, 1);
    const zeroChannel = (i: number) => i % 4 === 0;
    return [
      [Float32Array.from(randn(r, n), (v, i) => (zeroChannel(i % c) && i % 3 === 0 ? 0 : v)), shape],
      [Float32Array.from(randn(r, c), (v, i) => (zeroChannel(i) ? 0 : v)), [c]],
      [Float32Array.from({ length: c }, () => 0.1 + r()), [c]],
      [Float32Array.from(randn(r, c), (v, i) => (zeroChannel(i) ? 0 : v)), [c]],
      [randn(r, c), [c]],
      [randn(r, n), shape],
    ];
  }

  /** A BatchNorm layer over variables made from the given tensors (disposed by the caller). */
  function bnLayer(gamma: tf.Tensor, beta: tf.Tensor, mean: tf.Tensor, variance: tf.Tensor) {
    const v = [gamma, beta, mean, variance].map((t) => tf.variable(t));
    const entry = (name: string, variable: tf.Variable) => ({ name, variable, kind: "bn_weight" as const, prunable: false });
    const bn = new BatchNorm("bn", entry("w", v[0]!), entry("b", v[1]!), entry("m", v[2]!), entry("v", v[3]!), 1e-5);
    return { bn, vars: v };
  }

  /** y and the gradients of sum(y * dy) wrt x, gamma, beta (and mean, variance in inference) of BatchNorm.apply. */
  function bnReluLayer(training: boolean, fused: boolean) {
    return (x: tf.Tensor, m: tf.Tensor, v: tf.Tensor, o: tf.Tensor, s: tf.Tensor, dy: tf.Tensor) => {
      const { bn, vars } = bnLayer(s, o, m, v);
      const xv = tf.variable(x);
      const stats: tf.Tensor[] = [];
      const ctx = new ForwardContext({ training }, (st) => stats.push(st.mean, st.variance));
      let y: tf.Tensor | undefined;
      const wrt = training ? [xv, vars[0]!, vars[1]!] : [xv, ...vars];
      const { value, grads } = tf.variableGrads(() => {
        const out = fused ? bn.apply(x.rank === 4 ? (xv as tf.Tensor4D) : (xv as tf.Tensor2D), ctx, true) : tf.relu(bn.apply(xv as tf.Tensor4D, ctx));
        y = tf.keep(out);
        return tf.sum(tf.mul(out, dy));
      }, wrt);
      const result = [y!, ...wrt.map((w) => grads[w.name]!)];
      tf.dispose([value, xv, ...vars, ...stats]);
      return result;
    };
  }

  it.each([true, false])("fused BatchNorm + ReLU (training %s): BatchNorm.apply(relu) equals bn then relu exactly, cpu within 1e-4", async (training) => {
    const r = rng(training ? 61 : 67);
    for (const shape of [
      [4, 16, 16, 32],
      [3, 5, 7, 16],
      [6, 64],
    ]) {
      const inputs = bnReluInputs(r, shape);
      nativeKernelCalls(true);
      const fused = await on("wasm", inputs, bnReluLayer(training, true));
      const calls = nativeKernelCalls(true);
      const unfused = await on("wasm", inputs, bnReluLayer(training, false));
      expect(calls[training ? NATIVE_BN_TRAIN : "GapBatchNormRelu"], `[${shape}]`).toBe(1);
      expect(calls[training ? NATIVE_BN_GRAD : "GapBatchNormInferenceGrad"], `[${shape}]`).toBe(1);
      expect(calls["GapReluGrad"] ?? 0).toBe(training ? 0 : 4); // inference: one per mean/variance/scale/offset gradient
      expect(nativeKernelCalls()["GapReluGrad"]).toBe(1); // the unfused path's
      fused.values.forEach((got, i) => expect(relErr(got, unfused.values[i]!), `output ${i} of [${shape}]`).toBe(0));
      await compare(inputs, bnReluLayer(training, true), 1e-4);
    }
  });

  it("conv + folded inference batch norm (+ residual) (+ ReLU/ReLU6), depthwise too (GapFusedConv2D), matches the composed ops on cpu, values and all gradients", async () => {
    const fusable = CASES.filter((c) => !c.rounding && !c.dilation);
    for (const [i, c] of fusable.entries()) {
      for (const [residual, activation, depthwise] of [
        [false, "none", false],
        [false, "relu", false],
        [true, "relu", false],
        [false, "relu6", false],
        [false, "relu6", true],
        [true, "none", true],
      ] as const) {
        const r = rng(3000 + i);
        const eps = 1e-5;
        const co = depthwise ? c.ci : c.co; // depthwise: multiplier 1
        const xShape = [c.n, c.h, c.w, c.ci];
        const wShape = [c.k[0], c.k[1], c.ci, depthwise ? 1 : co];
        const conv = (x: tf.Tensor, w: tf.Tensor) =>
          depthwise ? tf.depthwiseConv2d(x as tf.Tensor4D, w as tf.Tensor4D, c.s, c.pad as never) : tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, c.s, c.pad as never);
        // act(bn(conv(x, w)) (+ residual)) with running statistics, as the unfused layers do.
        const composed = (x: tf.Tensor, w: tf.Tensor, scale: tf.Tensor, offset: tf.Tensor, mean: tf.Tensor, variance: tf.Tensor, res?: tf.Tensor) => {
          const y = tf.batchNorm(conv(x, w), mean as tf.Tensor1D, variance as tf.Tensor1D, offset as tf.Tensor1D, scale as tf.Tensor1D, eps);
          const z = res ? tf.add(y, res) : y;
          return activation === "relu" ? tf.relu(z) : activation === "relu6" ? tf.relu6(z) : z;
        };
        const x = randn(r, xShape.reduce((a, b) => a * b, 1));
        const w = randn(r, wShape.reduce((a, b) => a * b, 1));
        const outShape = (await on("cpu", [[x, xShape], [w, wShape]], conv)).shapes[0]!;
        const outSize = outShape.reduce((a, b) => a * b, 1);
        const inputs: Array<[Float32Array, number[]]> = [
          [x, xShape],
          [w, wShape],
          [Float32Array.from(randn(r, co), (v) => 3 * v), [co]], // scale: ReLU6 clips at both ends
          [randn(r, co), [co]], // offset
          [randn(r, co), [co]], // mean
          [Float32Array.from(randn(r, co), (v) => v * v + 0.5), [co]], // variance
          [randn(r, outSize), outShape], // residual
          [randn(r, outSize), outShape], // dy
        ];
        const f = (...t: tf.Tensor[]) => {
          const dy = t[7]!;
          const op = (...u: tf.Tensor[]) => {
            if (tf.getBackend() !== "wasm") return composed(u[0]!, u[1]!, u[2]!, u[3]!, u[4]!, u[5]!, residual ? u[6] : undefined);
            const named = { x: u[0]!, filter: u[1]!, scale: u[2]!, offset: u[3]!, mean: u[4]!, variance: u[5]!, ...(residual ? { residual: u[6]! } : {}) };
            const attrs = { strides: c.s, pad: c.pad, activation, depthwise, eps };
            return tf.engine().runKernel(NATIVE_CONV_FUSED, named, attrs as never) as tf.Tensor;
          };
          const args = t.slice(0, residual ? 7 : 6);
          return [op(...args), ...tf.grads(op)(args, dy)];
        };
        nativeKernelCalls(true);
        await compare(inputs, f, 5e-5);
        const calls = nativeKernelCalls(true);
        expect(calls[NATIVE_CONV_FUSED], `${label(c)} residual ${residual} ${activation} depthwise ${depthwise}`).toBe(2);
        expect(calls[NATIVE_FOLD_FILTER], "the input gradient's filter").toBe(1);
      }
    }
  });

  it("GapFoldFilter is filter * scale / sqrt(variance + eps) per output channel in double, rounded once (as GapFusedConv2D folds)", async () => {
    const r = rng(61);
    for (const shape of [[3, 3, 5, 7], [3, 3, 4, 1], [1, 1, 2, 9]]) {
      const co = shape[3]!;
      const n = shape.reduce((a, b) => a * b, 1);
      const [w, scale, variance] = [randn(r, n), randn(r, co), Float32Array.from(randn(r, co), (v) => v * v + 1e-3)];
      const eps = 1e-5;
      await tf.setBackend("wasm");
      const folded = tf.engine().runKernel(NATIVE_FOLD_FILTER, { filter: tf.tensor(w, shape), scale: tf.tensor(scale), variance: tf.tensor(variance) }, { eps } as never) as tf.Tensor;
      const expected = Float32Array.from(w, (v, i) => v * (scale[i % co]! / Math.sqrt(variance[i % co]! + eps)));
      expect(Array.from(await folded.data())).toEqual(Array.from(expected));
      tf.dispose(folded);
    }
  });

  it("depthwise conv and its input and filter gradients (oneDNN groups) match cpu", async () => {
    const cases: Array<{ shape: number[]; k: number; m: number; s: number; pad: "same" | "valid" | number }> = [
      { shape: [2, 8, 8, 16], k: 3, m: 1, s: 1, pad: 1 },
      { shape: [3, 9, 7, 32], k: 3, m: 1, s: 2, pad: "same" },
      { shape: [2, 6, 6, 8], k: 3, m: 2, s: 1, pad: "valid" },
      { shape: [2, 11, 10, 24], k: 5, m: 1, s: 2, pad: 2 },
    ];
    for (const [i, c] of cases.entries()) {
      const r = rng(500 + i);
      const wShape = [c.k, c.k, c.shape[3]!, c.m];
      const x = randn(r, c.shape.reduce((a, b) => a * b, 1));
      const w = randn(r, wShape.reduce((a, b) => a * b, 1));
      const conv = (xt: tf.Tensor, wt: tf.Tensor) => tf.depthwiseConv2d(xt as tf.Tensor4D, wt as tf.Tensor4D, c.s, c.pad as never);
      const outShape = (await on("cpu", [[x, c.shape], [w, wShape]], conv)).shapes[0]!;
      const dy = randn(r, outShape.reduce((a, b) => a * b, 1));
      nativeKernelCalls(true);
      await compare([[x, c.shape], [w, wShape], [dy, outShape]], (xt, wt, d) => [conv(xt!, wt!), ...tf.grads(conv)([xt!, wt!], d!)], 2e-5);
      const calls = nativeKernelCalls(true);
      for (const name of ["DepthwiseConv2dNative", "DepthwiseConv2dNativeBackpropInput", "DepthwiseConv2dNativeBackpropFilter"]) {
        expect(calls[name], `${name} ${JSON.stringify(c)}`).toBeGreaterThan(0);
      }
    }
  });

  it("MaxPool (padding, strides, ceil mode, 3 channels) matches cpu exactly", async () => {
    const r = rng(89);
    for (const c of [
      { shape: [3, 8, 8, 16], k: 3, s: 1, pad: "same" },
      { shape: [2, 9, 7, 24], k: 3, s: 2, pad: "valid" },
      { shape: [2, 10, 10, 8], k: 3, s: 2, pad: 0, rounding: "ceil" },
      { shape: [4, 6, 6, 3], k: 2, s: 2, pad: 1 },
      { shape: [2, 32, 32, 64], k: 3, s: 2, pad: "same" },
      { shape: [2, 9, 8, 12], k: 3, s: 2, pad: [[0, 0], [1, 2], [0, 1], [0, 0]] },
    ] as Array<{ shape: number[]; k: number; s: number; pad: "same" | "valid" | number | tf.backend_util.ExplicitPadding; rounding?: "ceil" }>) {
      nativeKernelCalls(true);
      await compare([[randn(r, c.shape.reduce((a, b) => a * b, 1)), c.shape]], (xt) => tf.maxPool(xt as tf.Tensor4D, c.k, c.s, c.pad as never, c.rounding), 0);
      expect(nativeKernelCalls(true)["MaxPool"], JSON.stringify(c)).toBe(1);
    }
  });

  it("MaxPoolGrad (ties, padding, strides, ceil mode) and SplitV match cpu", async () => {
    const r = rng(91);
    const pools: Array<{ shape: number[]; k: number; s: number; pad: "same" | "valid" | number | tf.backend_util.ExplicitPadding; rounding?: "ceil" }> = [
      { shape: [3, 8, 8, 16], k: 3, s: 1, pad: "same" },
      { shape: [2, 9, 7, 24], k: 3, s: 2, pad: "valid" },
      { shape: [2, 10, 10, 8], k: 3, s: 2, pad: 0, rounding: "ceil" },
      { shape: [4, 6, 6, 32], k: 2, s: 2, pad: "valid" },
      { shape: [2, 9, 8, 12], k: 3, s: 2, pad: [[0, 0], [1, 2], [0, 1], [0, 0]] },
    ];
    for (const c of pools) {
      const n = c.shape.reduce((a, b) => a * b, 1);
      // Small integers: many ties inside each window.
      const x = Float32Array.from({ length: n }, () => Math.floor(r() * 5) - 2);
      const pooled = await on("cpu", [[x, c.shape]], (xt) => tf.maxPool(xt as tf.Tensor4D, c.k, c.s, c.pad as never, c.rounding));
      const dy = randn(r, pooled.values[0]!.length);
      nativeKernelCalls(true);
      await compare(
        [[x, c.shape], [dy, pooled.shapes[0]!]],
        (xt, d) => tf.grad((z: tf.Tensor) => tf.maxPool(z as tf.Tensor4D, c.k, c.s, c.pad as never, c.rounding))(xt!, d!),
        1e-6, // overlapping windows add their dy in another order than cpu
      );
      expect(nativeKernelCalls(true)["MaxPoolGrad"], JSON.stringify(c)).toBe(1);
    }
    const x = randn(r, 4 * 5 * 6 * 40);
    nativeKernelCalls(true);
    await compare([[x, [4, 5, 6, 40]]], (xt) => tf.split(xt!, [8, 16, 3, 13], 3), 0);
    await compare([[x, [4, 5, 6, 40]]], (xt) => tf.split(xt!, 3, 2), 0);
    expect(nativeKernelCalls(true)["Slice"]).toBeGreaterThanOrEqual(4);
  });

  it("fused residual add + ReLU (addRelu, GapAddRelu) equals add then relu exactly, values and gradients", async () => {
    const r = rng(71);
    for (const shape of [
      [4, 16, 16, 32],
      [3, 5, 7, 16],
      [6, 64],
    ]) {
      const n = shape.reduce((x, y) => x * y, 1);
      const a = randn(r, n);
      // b = -a at every fifth element: a + b exactly 0, the ReLU boundary.
      const b = Float32Array.from(randn(r, n), (v, i) => (i % 5 === 0 ? -a[i]! : v));
      const inputs: Array<[Float32Array, number[]]> = [[a, shape], [b, shape], [randn(r, n), shape]];
      const f = (fused: boolean) => (at: tf.Tensor, bt: tf.Tensor, dy: tf.Tensor) => {
        const op = (x: tf.Tensor, y: tf.Tensor) => (fused ? addRelu(x, y) : tf.relu(tf.add(x, y)));
        return [op(at, bt), ...tf.grads(op)([at, bt], dy)];
      };
      nativeKernelCalls(true);
      const fused = await on("wasm", inputs, f(true));
      expect(nativeKernelCalls(true)["GapAddRelu"], `[${shape}]`).toBe(2); // the value, and again inside tf.grads
      const unfused = await on("wasm", inputs, f(false));
      fused.values.forEach((got, i) => expect(relErr(got, unfused.values[i]!), `output ${i} of [${shape}]`).toBe(0));
      await compare(inputs, f(true), 0);
    }
  });

  it("Identity and same-dtype Cast share memory safely (wasm)", async () => {
    await tf.setBackend("wasm");
    const before = tf.memory().numTensors;
    const x = tf.tensor([1, 2, 3, 4], [2, 2]);
    const y = tf.clone(x);
    const z = tf.cast(x, "float32");
    const i = tf.cast(x, "int32");
    x.dispose();
    expect(Array.from(await y.data())).toEqual([1, 2, 3, 4]);
    y.dispose();
    expect(Array.from(await z.data())).toEqual([1, 2, 3, 4]);
    expect(i.dtype).toBe("int32");
    const v = tf.variable(z);
    const zeros = tf.zeros([2, 2]);
    v.assign(zeros);
    expect(Array.from(await z.data())).toEqual([1, 2, 3, 4]);
    tf.dispose([z, i, v, zeros]);
    expect(tf.memory().numTensors).toBe(before);
  });
});
