// The wasm kernels and gradients the runtime adds, each checked against the
// tfjs cpu backend (an independent implementation) on seeded random inputs.
import * as tf from "@tensorflow/tfjs-core";
import { describe, expect, it } from "vitest";
import { stridedSliceGrad } from "../src/runtime/index.js";
import { randomValues, relError } from "./support/numerics.js";
import { onWasmBackend } from "./support/wasm-backend.js";

type Shape4 = [number, number, number, number];
type Pad = "same" | "valid" | [[number, number], [number, number], [number, number], [number, number]];

onWasmBackend();

/** Runs `f` on a backend and returns its result as plain data (no tensors survive). */
async function runOn(backend: string, f: () => tf.Tensor): Promise<{ shape: number[]; values: Float32Array }> {
  await tf.setBackend(backend);
  const before = tf.memory().numTensors;
  const t = tf.tidy(f);
  const values = (await t.data()) as Float32Array;
  const shape = t.shape;
  t.dispose();
  expect(tf.memory().numTensors).toBe(before);
  return { shape, values };
}

async function expectSameOnWasmAndCpu(f: () => tf.Tensor, rtol = 1e-5): Promise<void> {
  const wasm = await runOn("wasm", f);
  const cpu = await runOn("cpu", f);
  expect(wasm.shape).toEqual(cpu.shape);
  expect(cpu.values.length).toBeGreaterThan(0);
  // A kernel returning zeros would trivially match a zero reference.
  expect(cpu.values.some((v) => v !== 0)).toBe(true);
  expect(relError(wasm.values, cpu.values)).toBeLessThan(rtol);
}

function outSize(inSize: number, k: number, s: number, pad: Pad, dim: 1 | 2): number {
  if (pad === "same") return Math.ceil(inSize / s);
  if (pad === "valid") return Math.ceil((inSize - k + 1) / s);
  return Math.floor((inSize + pad[dim][0] + pad[dim][1] - k) / s) + 1;
}

interface ConvCase {
  x: Shape4;
  k: [number, number];
  out: number; // output channels (conv) or channel multiplier (depthwise)
  stride: number | [number, number];
  pad: Pad;
}

const convCases: ConvCase[] = [
  { x: [2, 8, 8, 3], k: [3, 3], out: 4, stride: 1, pad: "same" },
  { x: [3, 9, 7, 5], k: [3, 3], out: 6, stride: 2, pad: "same" },
  { x: [2, 10, 8, 4], k: [3, 3], out: 2, stride: 2, pad: "valid" },
  { x: [1, 7, 9, 2], k: [5, 3], out: 3, stride: 1, pad: "valid" },
  { x: [2, 9, 9, 3], k: [3, 3], out: 5, stride: [2, 1], pad: [[0, 0], [1, 1], [1, 1], [0, 0]] },
  { x: [2, 8, 8, 16], k: [1, 1], out: 8, stride: 2, pad: "valid" },
  { x: [4, 6, 10, 8], k: [2, 2], out: 8, stride: 2, pad: [[0, 0], [0, 1], [2, 0], [0, 0]] },
  // Trailing rows/cols the strided conv never reads (valid, 8 = 3 + 2*2 + 1).
  { x: [2, 8, 8, 3], k: [3, 3], out: 4, stride: 2, pad: "valid" },
];

describe("Conv2DBackpropFilter on wasm", () => {
  it.each(convCases)("matches cpu: $x $k $stride $pad", async (c) => {
    const [sh, sw] = typeof c.stride === "number" ? [c.stride, c.stride] : c.stride;
    const oh = outSize(c.x[1], c.k[0], sh, c.pad, 1);
    const ow = outSize(c.x[2], c.k[1], sw, c.pad, 2);
    const xv = randomValues(c.x.reduce((a, b) => a * b), 11);
    const dyShape: Shape4 = [c.x[0], oh, ow, c.out];
    const dyv = randomValues(dyShape.reduce((a, b) => a * b), 12);
    const filterShape: Shape4 = [c.k[0], c.k[1], c.x[3], c.out];
    await expectSameOnWasmAndCpu(() =>
      tf.engine().runKernel(
        "Conv2DBackpropFilter",
        { x: tf.tensor4d(xv, c.x), dy: tf.tensor4d(dyv, dyShape) },
        { strides: [sh, sw], pad: c.pad, dataFormat: "NHWC", filterShape } as never,
      ) as tf.Tensor,
    );
  });

  it("gives the filter gradient of tf.conv2d through tf.grad", async () => {
    const x = randomValues(2 * 9 * 7 * 3, 21);
    const w = randomValues(3 * 3 * 3 * 4, 22);
    const r = randomValues(2 * 5 * 4 * 4, 23);
    await expectSameOnWasmAndCpu(() => {
      const xt = tf.tensor4d(x, [2, 9, 7, 3]);
      const rt = tf.tensor4d(r, [2, 5, 4, 4]);
      const loss = (wt: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(xt, wt as tf.Tensor4D, 2, "same"), rt));
      return tf.grad(loss)(tf.tensor4d(w, [3, 3, 3, 4]));
    });
  });
});

describe("Conv2DBackpropInput on wasm (XNNPACK conv at stride 1, wasm's kernel otherwise)", () => {
  it.each(convCases)("matches cpu: $x $k $stride $pad", async (c) => {
    const [sh, sw] = typeof c.stride === "number" ? [c.stride, c.stride] : c.stride;
    const oh = outSize(c.x[1], c.k[0], sh, c.pad, 1);
    const ow = outSize(c.x[2], c.k[1], sw, c.pad, 2);
    const dyShape: Shape4 = [c.x[0], oh, ow, c.out];
    const filterShape: Shape4 = [c.k[0], c.k[1], c.x[3], c.out];
    const dyv = randomValues(dyShape.reduce((a, b) => a * b), 13);
    const wv = randomValues(filterShape.reduce((a, b) => a * b), 14);
    await expectSameOnWasmAndCpu(() =>
      tf.engine().runKernel(
        "Conv2DBackpropInput",
        { dy: tf.tensor4d(dyv, dyShape), filter: tf.tensor4d(wv, filterShape) },
        { strides: [sh, sw], pad: c.pad, dataFormat: "NHWC", inputShape: c.x } as never,
      ) as tf.Tensor,
    );
  });

  it("handles padding beyond the kernel (dy cropped) at stride 1", async () => {
    const dyv = randomValues(2 * 8 * 8 * 3, 15);
    const wv = randomValues(3 * 3 * 2 * 3, 16);
    await expectSameOnWasmAndCpu(() =>
      tf.engine().runKernel(
        "Conv2DBackpropInput",
        { dy: tf.tensor4d(dyv, [2, 8, 8, 3]), filter: tf.tensor4d(wv, [3, 3, 2, 3]) },
        { strides: [1, 1], pad: [[0, 0], [3, 1], [0, 4], [0, 0]], dataFormat: "NHWC", inputShape: [2, 6, 6, 2] } as never,
      ) as tf.Tensor,
    );
  });
});

const depthwiseCases: ConvCase[] = [
  { x: [2, 8, 8, 3], k: [3, 3], out: 1, stride: 1, pad: "same" },
  { x: [3, 9, 7, 6], k: [3, 3], out: 1, stride: 2, pad: "same" },
  { x: [2, 10, 8, 4], k: [3, 3], out: 2, stride: 2, pad: "valid" },
  { x: [1, 7, 9, 2], k: [5, 3], out: 3, stride: 1, pad: "valid" },
  { x: [2, 9, 9, 5], k: [3, 3], out: 1, stride: [1, 2], pad: [[0, 0], [1, 1], [1, 1], [0, 0]] },
  { x: [2, 8, 8, 3], k: [3, 3], out: 1, stride: 2, pad: "valid" },
  { x: [2, 6, 6, 4], k: [3, 3], out: 2, stride: 2, pad: [[0, 0], [2, 0], [0, 1], [0, 0]] },
];

describe("DepthwiseConv2dNative gradients on wasm", () => {
  it.each(depthwiseCases)("backprop filter matches cpu: $x $k m=$out $stride $pad", async (c) => {
    const [sh, sw] = typeof c.stride === "number" ? [c.stride, c.stride] : c.stride;
    const oh = outSize(c.x[1], c.k[0], sh, c.pad, 1);
    const ow = outSize(c.x[2], c.k[1], sw, c.pad, 2);
    const dyShape: Shape4 = [c.x[0], oh, ow, c.x[3] * c.out];
    const xv = randomValues(c.x.reduce((a, b) => a * b), 31);
    const dyv = randomValues(dyShape.reduce((a, b) => a * b), 32);
    const filterShape: Shape4 = [c.k[0], c.k[1], c.x[3], c.out];
    await expectSameOnWasmAndCpu(() =>
      tf.engine().runKernel(
        "DepthwiseConv2dNativeBackpropFilter",
        { x: tf.tensor4d(xv, c.x), dy: tf.tensor4d(dyv, dyShape) },
        { strides: [sh, sw], dilations: [1, 1], pad: c.pad, filterShape } as never,
      ) as tf.Tensor,
    );
  });

  it.each(depthwiseCases)("backprop input matches cpu: $x $k m=$out $stride $pad", async (c) => {
    const [sh, sw] = typeof c.stride === "number" ? [c.stride, c.stride] : c.stride;
    const oh = outSize(c.x[1], c.k[0], sh, c.pad, 1);
    const ow = outSize(c.x[2], c.k[1], sw, c.pad, 2);
    const dyShape: Shape4 = [c.x[0], oh, ow, c.x[3] * c.out];
    const filterShape: Shape4 = [c.k[0], c.k[1], c.x[3], c.out];
    const dyv = randomValues(dyShape.reduce((a, b) => a * b), 41);
    const wv = randomValues(filterShape.reduce((a, b) => a * b), 42);
    await expectSameOnWasmAndCpu(() =>
      tf.engine().runKernel(
        "DepthwiseConv2dNativeBackpropInput",
        { dy: tf.tensor4d(dyv, dyShape), filter: tf.tensor4d(wv, filterShape) },
        { strides: [sh, sw], dilations: [1, 1], pad: c.pad, inputShape: c.x } as never,
      ) as tf.Tensor,
    );
  });

  it("input gradient agrees with central finite differences", async () => {
    // L(x) = sum(r * relu(depthwise(x, w))): nonlinear in x, so this checks the
    // analytic gradient itself rather than agreement between two backends.
    await tf.setBackend("wasm");
    const xShape: Shape4 = [1, 6, 5, 2];
    const xv = randomValues(60, 51);
    const w = tf.tensor4d(randomValues(18, 52), [3, 3, 2, 1]);
    const r = tf.tensor4d(randomValues(3 * 3 * 2, 53), [1, 3, 3, 2]);
    const loss = (x: tf.Tensor) =>
      tf.sum(tf.mul(tf.relu(tf.depthwiseConv2d(x as tf.Tensor4D, w, 2, "same")), r));
    const g = tf.tidy(() => tf.grad(loss)(tf.tensor4d(xv, xShape)));
    const analytic = g.dataSync();
    g.dispose();
    const lossAt = (vals: Float32Array) => tf.tidy(() => loss(tf.tensor4d(vals, xShape)).dataSync()[0]!);
    const eps = 1e-2;
    let checked = 0;
    for (let i = 0; i < xv.length; i += 7) {
      const plus = Float32Array.from(xv);
      const minus = Float32Array.from(xv);
      plus[i]! += eps;
      minus[i]! -= eps;
      const numeric = (lossAt(plus) - lossAt(minus)) / (2 * eps);
      expect(Math.abs(numeric - analytic[i]!)).toBeLessThan(2e-3 + 1e-2 * Math.abs(numeric));
      checked++;
    }
    expect(checked).toBeGreaterThan(5);
    expect(analytic.some((v) => v !== 0)).toBe(true);
    w.dispose();
    r.dispose();
  });
});

describe("GatherV2 and UnsortedSegmentSum on wasm", () => {
  it("gather with batchDims 1 matches cpu (cross-entropy pick)", async () => {
    const logits = randomValues(6 * 10, 61);
    const labels = [3, 0, 9, 9, 1, 5];
    await expectSameOnWasmAndCpu(() =>
      tf.gather(tf.tensor2d(logits, [6, 10]), tf.tensor1d(labels, "int32"), 1, 1),
    );
    const x3 = randomValues(3 * 4 * 5 * 2, 62);
    const idx = [
      [1, 0, 4],
      [2, 2, 3],
      [0, 4, 1],
    ];
    await expectSameOnWasmAndCpu(() =>
      tf.gather(tf.tensor4d(x3, [3, 4, 5, 2]), tf.tensor2d(idx, [3, 3], "int32"), 2, 1),
    );
  });

  it("gather gradient (UnsortedSegmentSum) matches cpu, repeated indices summed", async () => {
    const x = randomValues(5 * 3, 63);
    const w = randomValues(7 * 3, 64);
    await expectSameOnWasmAndCpu(() => {
      const idx = tf.tensor1d([4, 1, 1, 0, 4, 4, 2], "int32");
      const wt = tf.tensor2d(w, [7, 3]);
      return tf.grad((xt: tf.Tensor) => tf.sum(tf.mul(tf.gather(xt, idx, 0), wt)))(tf.tensor2d(x, [5, 3]));
    });
    await expectSameOnWasmAndCpu(() =>
      tf.unsortedSegmentSum(tf.tensor2d(w, [7, 3]), tf.tensor1d([2, 0, 2, 5, 1, 0, 2], "int32"), 4),
    );
  });
});

describe("Sum and Mean gradients", () => {
  // [shape, axes, keepDims]: runs of axes (spread by concatenation), the last axis, scattered axes (tfjs's ones multiply).
  const cases: Array<[number[], number | number[], boolean]> = [
    [[3, 4, 5, 6], [1, 2], false],
    [[3, 4, 5, 6], [1, 2], true],
    [[2, 3, 4], -1, false],
    [[2, 3, 4], [0, 1], false],
    [[2, 3, 4, 5], [0, 2], true],
    [[6, 7], [0, 1], false],
    [[2, 0, 3], [2], false], // an empty x
    [[2, 0, 3], [1], true], // nothing to spread
  ];
  it.each(cases)("dx[i] is dy at i's reduced position (/ the reduced size for Mean), exactly: x %j axes %j keepDims %j", async (shape, axis, keepDims) => {
    const size = shape.reduce((a, b) => a * b, 1);
    const axes = (Array.isArray(axis) ? axis : [axis]).map((a) => (a + shape.length) % shape.length);
    const copies = axes.reduce((n, a) => n * shape[a]!, 1);
    const outShape = shape.map((d, i) => (axes.includes(i) ? 1 : d));
    const dy = randomValues(outShape.reduce((a, b) => a * b, 1), 66);
    // Row-major index of x's element i with the reduced axes' coordinates set to 0.
    const reducedIndex = (i: number) => {
      let rest = i;
      let out = 0;
      let stride = 1;
      for (let d = shape.length - 1; d >= 0; d--) {
        const coord = rest % shape[d]!;
        rest = Math.floor(rest / shape[d]!);
        if (!axes.includes(d)) out += coord * stride;
        stride *= outShape[d]!;
      }
      return out;
    };
    for (const kind of ["sum", "mean"] as const) {
      const expected = Float32Array.from({ length: size }, (_, i) => (kind === "mean" ? Math.fround(dy[reducedIndex(i)]! / copies) : dy[reducedIndex(i)]!));
      for (const backend of ["wasm", "cpu"]) {
        const { values } = await runOn(backend, () => {
          const x = tf.tensor(randomValues(size, 67), shape);
          const w = tf.tensor(dy, keepDims ? outShape : outShape.filter((_, i) => !axes.includes(i)));
          return tf.grad((xt: tf.Tensor) => tf.sum(tf.mul(tf[kind](xt, axis, keepDims), w)))(x);
        });
        expect(Array.from(values), `${kind} on ${backend}`).toEqual(Array.from(expected));
      }
    }
  });
});

describe("Sign on wasm", () => {
  it("matches cpu exactly, subnormals (+-1), +-0, NaN and +-inf included", async () => {
    const specials = [1e-45, -1e-45, 1e-39, -1e-39, 0, -0, NaN, Infinity, -Infinity];
    const x = Float32Array.from(randomValues(7 * 11, 65), (v, i) => (i % 3 === 0 ? specials[(i / 3) % specials.length]! : v));
    const wasm = await runOn("wasm", () => tf.sign(tf.tensor2d(x, [7, 11])));
    const cpu = await runOn("cpu", () => tf.sign(tf.tensor2d(x, [7, 11])));
    expect(Array.from(wasm.values)).toEqual(Array.from(cpu.values));
    expect(wasm.values[0]).toBe(1); // sign(1e-45)
    expect(wasm.values[3]).toBe(-1); // sign(-1e-45)
  });
});

describe("StridedSlice gradient", () => {
  // Reference: slicing an iota tensor yields the flat x index behind each
  // output element, so the gradient is dy scattered (summed) at those indices.
  async function reference(xShape: number[], dyValues: Float32Array, slice: (x: tf.Tensor) => tf.Tensor) {
    const size = xShape.reduce((a, b) => a * b, 1);
    const picked = tf.tidy(() => slice(tf.reshape(tf.range(0, size, 1, "float32"), xShape)));
    const where = picked.dataSync();
    picked.dispose();
    const out = new Float32Array(size);
    where.forEach((flat, j) => (out[flat] += dyValues[j]!));
    return { shape: xShape, values: out, outCount: where.length };
  }

  const cases: Array<{ name: string; shape: number[]; slice: (x: tf.Tensor) => tf.Tensor }> = [
    { name: "x[:, ::2, ::2, :] (ResNet shortcut)", shape: [2, 6, 5, 3], slice: (x) => tf.stridedSlice(x, [0, 0, 0, 0], [2, 6, 5, 3], [1, 2, 2, 1]) },
    { name: "begin offsets and stride 3", shape: [4, 9, 3], slice: (x) => tf.stridedSlice(x, [1, 2, 0], [4, 9, 3], [2, 3, 1]) },
    { name: "negative stride", shape: [7, 4], slice: (x) => tf.stridedSlice(x, [6, 0], [0, 4], [-2, 1]) },
    { name: "masks and shrink axis", shape: [3, 5, 4], slice: (x) => tf.stridedSlice(x, [0, 1, 2], [0, 4, 3], [1, 1, 1], 1, 0, 0, 0, 4) },
    { name: "new axis and ellipsis", shape: [3, 4, 5], slice: (x) => tf.stridedSlice(x, [0, 1], [0, 5], [1, 2], 0, 0, 1, 0, 0) },
  ];

  for (const backend of ["wasm", "cpu"]) {
    it.each(cases)(`$name on ${backend}`, async ({ shape, slice }) => {
      await tf.setBackend(backend);
      const outShape = tf.tidy(() => slice(tf.zeros(shape)).shape);
      const dyv = randomValues(outShape.reduce((a, b) => a * b, 1), 71);
      const ref = await reference(shape, dyv, slice);
      expect(ref.outCount).toBe(dyv.length);
      const before = tf.memory().numTensors;
      const g = tf.tidy(() => {
        const dy = tf.tensor(dyv, outShape);
        return tf.grad((x: tf.Tensor) => tf.sum(tf.mul(slice(x), dy)))(tf.zeros(shape));
      });
      expect(g.shape).toEqual(shape);
      expect(Array.from(g.dataSync())).toEqual(Array.from(ref.values));
      g.dispose();
      expect(tf.memory().numTensors).toBe(before);
    });
  }

  it("is also callable directly and returns zeros for an empty slice", async () => {
    await tf.setBackend("wasm");
    const g = stridedSliceGrad(tf.zeros([2, 0, 3]), [2, 4, 3], {
      begin: [0, 3, 0],
      end: [2, 3, 3],
      strides: [1, 1, 1],
      beginMask: 0,
      endMask: 0,
      ellipsisMask: 0,
      newAxisMask: 0,
      shrinkAxisMask: 0,
    });
    expect(g.shape).toEqual([2, 4, 3]);
    expect(Array.from(g.dataSync()).every((v) => v === 0)).toBe(true);
    g.dispose();
  });
});

/**
 * A shuffled grid in [-1, 1): any two values differ by at least 2/size, so a
 * finite-difference step below 1/size never reorders them (max pooling stays
 * differentiable at every sample, no ties).
 */
function spacedValues(size: number, seed: number): Float32Array {
  const order = randomValues(size, seed);
  const idx = Array.from({ length: size }, (_, i) => i).sort((a, b) => order[a]! - order[b]!);
  const out = new Float32Array(size);
  idx.forEach((k, rank) => (out[k] = (2 * rank) / size - 1));
  return out;
}

/**
 * Central finite differences of a scalar function of one tensor, compared with
 * tf.grad at every `step`-th element. The loss is evaluated by the forward
 * kernels only, so this checks the backward pass against the forward one.
 */
async function expectGradMatchesFiniteDifferences(
  backend: string,
  shape: number[],
  seed: number,
  f: (x: tf.Tensor) => tf.Scalar,
  eps = 2e-3,
  step = 1,
): Promise<void> {
  await tf.setBackend(backend);
  const xv = spacedValues(shape.reduce((a, b) => a * b, 1), seed);
  const g = tf.tidy(() => tf.grad(f)(tf.tensor(xv, shape)));
  const analytic = g.dataSync();
  g.dispose();
  const lossAt = (vals: Float32Array) => tf.tidy(() => f(tf.tensor(vals, shape)).dataSync()[0]!);
  let worst = 0;
  for (let i = 0; i < xv.length; i += step) {
    const plus = Float32Array.from(xv);
    const minus = Float32Array.from(xv);
    plus[i]! += eps;
    minus[i]! -= eps;
    const numeric = (lossAt(plus) - lossAt(minus)) / (2 * eps);
    worst = Math.max(worst, Math.abs(numeric - analytic[i]!) / (1 + Math.abs(numeric)));
  }
  expect(analytic.some((v) => v !== 0)).toBe(true);
  expect(worst).toBeLessThan(2e-3);
}

describe("MaxPoolGrad on wasm", () => {
  // wasm's own MaxPoolGrad misroutes gradients for negative inputs; the
  // replacement must agree with cpu on signed, tie-free data.
  const cases: Array<{ x: Shape4; k: number; s: number; pad: "same" | "valid" | number | tf.backend_util.ExplicitPadding; round?: "ceil" }> = [
    { x: [2, 8, 8, 3], k: 2, s: 2, pad: "valid" },
    { x: [3, 9, 7, 4], k: 3, s: 2, pad: "same" },
    { x: [2, 6, 5, 2], k: 3, s: 1, pad: "same" },
    { x: [2, 7, 6, 3], k: 3, s: 1, pad: "valid" },
    { x: [2, 5, 6, 2], k: 3, s: 2, pad: 0, round: "ceil" },
    // maxPool2d's explicit padding: PyTorch's padding 1, and ceil mode's extra bottom/right.
    { x: [2, 6, 5, 2], k: 3, s: 1, pad: [[0, 0], [1, 1], [1, 1], [0, 0]] },
    { x: [2, 7, 8, 3], k: 3, s: 2, pad: [[0, 0], [0, 1], [0, 0], [0, 0]] },
  ];
  it.each(cases)("matches cpu: $x k=$k s=$s pad=$pad $round", async (c) => {
    const xv = spacedValues(c.x.reduce((a, b) => a * b), 111);
    await expectSameOnWasmAndCpu(() => {
      const x = tf.tensor4d(xv, c.x);
      const y = tf.maxPool(x, c.k, c.s, c.pad, c.round);
      const dy = tf.tensor(randomValues(y.size, 112), y.shape);
      return tf.engine().runKernel("MaxPoolGrad", { dy, input: x, output: y }, {
        filterSize: [c.k, c.k],
        strides: [c.s, c.s],
        pad: c.pad,
        dimRoundingMode: c.round,
      } as never) as tf.Tensor;
    });
  });
});

describe("rounding modes and pooling gradients (both backends)", () => {
  const xShape: Shape4 = [2, 5, 6, 2];
  const weights = (shape: number[], seed: number) => tf.tensor(randomValues(shape.reduce((a, b) => a * b, 1), seed), shape);

  it.each([
    ["maxPool 2x2/2 ceil", (x: tf.Tensor4D) => tf.maxPool(x, 2, 2, 0, "ceil")],
    ["maxPool 3x3/2 round", (x: tf.Tensor4D) => tf.maxPool(x, 3, 2, 0, "round")],
    ["avgPool 2x2/2 ceil", (x: tf.Tensor4D) => tf.avgPool(x, 2, 2, 0, "ceil")],
    ["conv2d 2x2/2 ceil", (x: tf.Tensor4D) => tf.conv2d(x, weights([2, 2, 2, 3], 91) as tf.Tensor4D, 2, 0, "NHWC", 1, "ceil")],
    [
      "depthwiseConv2d 2x2/2 ceil",
      (x: tf.Tensor4D) => tf.depthwiseConv2d(x, weights([2, 2, 2, 2], 92) as tf.Tensor4D, 2, 0, "NHWC", 1, "ceil"),
    ],
  ] as const)("%s forward matches cpu on wasm", async (_name, op) => {
    const xv = randomValues(xShape.reduce((a, b) => a * b), 93);
    await expectSameOnWasmAndCpu(() => op(tf.tensor4d(xv, xShape)));
  });

  for (const backend of ["wasm", "cpu"]) {
    it.each([
      ["avgPool 3x3/2 same", (x: tf.Tensor4D) => tf.avgPool(x, 3, 2, "same")],
      ["avgPool 2x2/2 ceil", (x: tf.Tensor4D) => tf.avgPool(x, 2, 2, 0, "ceil")],
      ["maxPool 3x3/2 ceil", (x: tf.Tensor4D) => tf.maxPool(x, 3, 2, 0, "ceil")],
      ["maxPool 3x3/2 same", (x: tf.Tensor4D) => tf.maxPool(x, 3, 2, "same")],
      ["maxPool 3x3/1 same", (x: tf.Tensor4D) => tf.maxPool(x, 3, 1, "same")],
      ["maxPool 3x3/2 explicit padding", (x: tf.Tensor4D) => tf.maxPool(x, 3, 2, [[0, 0], [1, 1], [0, 1], [0, 0]])],
      ["conv2d 3x3/2 ceil (input)", (x: tf.Tensor4D) => tf.conv2d(x, weights([3, 3, 2, 3], 94) as tf.Tensor4D, 2, 0, "NHWC", 1, "ceil")],
      [
        "depthwise 3x3/2 ceil (input)",
        (x: tf.Tensor4D) => tf.depthwiseConv2d(x, weights([3, 3, 2, 1], 95) as tf.Tensor4D, 2, 0, "NHWC", 1, "ceil"),
      ],
    ] as const)(`%s: input gradient equals finite differences on ${backend}`, async (_name, op) => {
      const out = tf.tidy(() => op(tf.zeros(xShape) as tf.Tensor4D).shape);
      const r = weights(out, 96);
      await expectGradMatchesFiniteDifferences(backend, xShape, 97, (x) => tf.sum(tf.mul(op(x as tf.Tensor4D), r)));
      r.dispose();
    });

    it(`conv2d 3x3/2 ceil: filter gradient equals finite differences on ${backend}`, async () => {
      const x = tf.tensor4d(randomValues(xShape.reduce((a, b) => a * b), 98), xShape);
      const outShape = tf.tidy(() => tf.conv2d(x, tf.zeros([3, 3, 2, 3]) as tf.Tensor4D, 2, 0, "NHWC", 1, "ceil").shape);
      const r = weights(outShape, 99);
      await expectGradMatchesFiniteDifferences(backend, [3, 3, 2, 3], 100, (w) =>
        tf.sum(tf.mul(tf.conv2d(x, w as tf.Tensor4D, 2, 0, "NHWC", 1, "ceil"), r)),
      );
      tf.dispose([x, r]);
    });
  }

  it("a dy that does not fit the attributes is an error, not a wasm memory fault", async () => {
    await tf.setBackend("wasm");
    const x = tf.zeros([2, 5, 6, 3]);
    const dy = tf.zeros([2, 3, 3, 4]); // 'ceil' shape, but no rounding mode given
    expect(() =>
      tf.engine().runKernel("Conv2DBackpropFilter", { x, dy }, {
        strides: [2, 2],
        pad: 0,
        dataFormat: "NHWC",
        filterShape: [2, 2, 3, 4],
      } as never),
    ).toThrow(/dy has shape \[2,3,3,4\], expected \[2,2,3,4\]/);
    tf.dispose([x, dy]);
  });
});

describe("kernel memory", () => {
  it("the composed wasm kernels leave no data behind on the wasm backend", async () => {
    await tf.setBackend("wasm");
    const wasm = tf.findBackend("wasm")!;
    const x = tf.tensor4d(randomValues(2 * 8 * 8 * 4, 81), [2, 8, 8, 4]);
    const w = tf.tensor4d(randomValues(3 * 3 * 4 * 2, 82), [3, 3, 4, 2]);
    const dw = tf.tensor4d(randomValues(3 * 3 * 2 * 2, 83), [3, 3, 2, 2]);
    const step = () =>
      tf.tidy(() => {
        const [gx, gw, gdw] = tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) =>
          tf.sum(tf.depthwiseConv2d(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, "same"), c as tf.Tensor4D, 2, "same")),
        )([x, w, dw]);
        return tf.addN([tf.sum(gx!), tf.sum(gw!), tf.sum(gdw!)]);
      });
    step().dispose(); // first call may create lazily cached state
    const dataIds = wasm.numDataIds();
    const tensors = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) step().dispose();
    expect(wasm.numDataIds()).toBe(dataIds);
    expect(tf.memory().numTensors).toBe(tensors);
    tf.dispose([x, w, dw]);
  });
});
