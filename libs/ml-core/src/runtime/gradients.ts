/**
 * Gradients tfjs 4.22 lacks or gets wrong, registered for every backend.
 *
 * - StridedSlice has no gradient in tfjs, yet x[:, ::2, ::2, :] (the ResNet
 *   option-A shortcut) is a strided slice. Its gradient scatters dy back into
 *   a zero tensor shaped like x: undo negative strides by reversing, put
 *   stride-1 zeros between elements, then pad up to x's extent.
 * - The Conv2D, MaxPool and AvgPool gradients drop the op's dimRoundingMode,
 *   so with 'ceil'/'round' they size the backward pass for 'floor': silently
 *   wrong gradients on cpu, out-of-bounds memory on wasm. The replacements
 *   resolve the rounding into explicit padding first.
 * - AvgPoolGrad (cpu and wasm) divides by the full window size, while the
 *   forward AvgPool divides by the number of non-padding inputs in a window
 *   ('same' borders, ceil-mode windows): wrong gradients there. The
 *   replacement rescales dy per window so the two agree.
 * - The FusedBatchNorm (tf.batchNorm) gradient tiles rsqrt(variance) up to
 *   x's full shape before multiplying, and computes x - mean and dy * scale
 *   even when only dx is wanted (PGD, inference-mode input gradients): on
 *   wasm the Tile alone was half of a PGD-10 step. The replacement broadcasts
 *   and computes each input's gradient only when asked for.
 * - With the native kernels on (wasm backend, float32), the batch-norm dx and
 *   ReLU's dy * step(x) (Step + Cast + Multiply) are one multi-threaded pass
 *   each (GapBatchNormInferenceGrad, GapReluGrad in native/).
 * - GapBatchNormRelu (native inference BN + ReLU, fused-ops.ts): dx in one
 *   pass, dy * step(y) * scale / sqrt(variance + eps); the other inputs'
 *   gradients are FusedBatchNorm's on the ReLU gradient dy * step(y).
 * - GapAddRelu (native relu(a + b), the residual add): both inputs get the
 *   ReLU gradient dy * step(y), computed once.
 * - ReLU6 with native kernels on: dy * (0 < x <= 6) in one pass (GapRelu6Grad)
 *   instead of LessEqual, Step, Cast and two Multiplies (wasm's LessEqual alone
 *   was a third of a MobileNetV2 PGD step).
 * - GapFusedConv2D (native conv with inference batch norm folded in (+ residual)
 *   (+ ReLU or ReLU6)): dz = dy gated on the output y, then the conv's own
 *   backward kernels on dz and the fold's chain rule, each only when asked for.
 * - Sum and Mean multiply dy by a ones tensor of x's shape filled in JS: for global
 *   average pooling's [128, 8, 8, 64] (every training and PGD step) that fill and
 *   wasm's broadcasting multiply took about 1.5 ms. The replacement spreads dy back
 *   over a run of reduced axes by concatenating copies of it, one pass.
 */
import {
  add,
  backend_util,
  cast,
  clone,
  concat,
  div,
  step,
  engine,
  getGradient,
  lessEqual,
  mul,
  neg,
  ones,
  pow,
  tensor4d,
  pad,
  registerGradient,
  reshape,
  reverse,
  rsqrt,
  slice,
  slice_util,
  sub,
  sum,
  tidy,
  zeros,
  type Conv2DAttrs,
  type FusedBatchNormAttrs,
  type GradConfig,
  type MaxPoolAttrs,
  type StridedSliceAttrs,
  type SumAttrs,
  type NamedAttrMap,
  type Tensor,
} from "@tensorflow/tfjs-core";
import {
  NATIVE_ADD_RELU,
  NATIVE_BN_INFERENCE_GRAD,
  NATIVE_BN_RELU,
  NATIVE_CONV_FUSED,
  NATIVE_DROPOUT,
  NATIVE_FOLD_FILTER,
  NATIVE_RELU6_GRAD,
  NATIVE_RELU6_OUTPUT_GRAD,
  NATIVE_RELU_GRAD,
  nativeApplies,
} from "./native/index.js";
import { pair, reductionAxes, sameShape, windowGeometry, type PadSpec } from "./padding.js";

/** Scatters dy (the strided slice's output gradient) into zeros shaped like x. */
export function stridedSliceGrad(dy: Tensor, xShape: number[], attrs: StridedSliceAttrs): Tensor {
  return tidy(() => {
    const { begin, end, strides, beginMask, endMask, ellipsisMask, newAxisMask, shrinkAxisMask } = attrs;
    const info = slice_util.sliceInfo(xShape, begin, end, strides, beginMask, endMask, ellipsisMask, newAxisMask, shrinkAxisMask);
    const rank = xShape.length;
    // Element count per axis of x that the slice visited.
    const counts = xShape.map((_, i) => {
      const span = info.end[i]! - info.begin[i]!;
      const step = info.strides[i]!;
      return span === 0 || span < 0 !== step < 0 ? 0 : Math.ceil(span / step);
    });
    if (counts.some((n) => n === 0)) return zeros(xShape, dy.dtype);

    let g = reshape(dy, counts);
    const flipped = counts.map((_, i) => i).filter((i) => info.strides[i]! < 0);
    if (flipped.length > 0) g = reverse(g, flipped);

    const paddings: Array<[number, number]> = [];
    for (let axis = 0; axis < rank; axis++) {
      const n = counts[axis]!;
      const stride = info.strides[axis]!;
      const step = Math.abs(stride);
      // Lowest index of x the slice touched on this axis.
      const first = stride > 0 ? info.begin[axis]! : info.begin[axis]! + (n - 1) * stride;
      if (step > 1) {
        // [pre, n, post] -> [pre, n, step, post] with zeros after each element.
        const pre = g.shape.slice(0, axis).reduce((a, b) => a * b, 1);
        const post = g.shape.slice(axis + 1).reduce((a, b) => a * b, 1);
        const spread = pad(reshape(g, [pre, n, 1, post]), [[0, 0], [0, 0], [0, step - 1], [0, 0]]);
        const shape = [...g.shape];
        shape[axis] = (n - 1) * step + 1;
        const full = [...g.shape];
        full[axis] = n * step;
        // Drop the zeros after the last element.
        g = slice(reshape(spread, full), new Array(rank).fill(0), shape);
      }
      const extent = (n - 1) * step + 1;
      paddings.push([first, xShape[axis]! - first - extent]);
    }
    return pad(g, paddings);
  });
}

const run = (kernel: string, inputs: Record<string, Tensor>, attrs: object): Tensor =>
  engine().runKernel(kernel, inputs, attrs as NamedAttrMap) as Tensor;

/** Pool attributes with any rounding mode turned into explicit padding. */
function poolAttrs(x: Tensor, a: MaxPoolAttrs) {
  const filterSize = pair(a.filterSize);
  const g = windowGeometry(x.shape, filterSize, a.strides, 1, a.pad, a.dimRoundingMode);
  return { geometry: g, attrs: { filterSize, strides: a.strides, pad: g.pad } };
}

/**
 * filterHeight * filterWidth / (inputs of x inside each window): turns the
 * full-window divisor of AvgPoolGrad into the forward pass's valid-count one.
 * Shape [1, outHeight, outWidth, 1].
 */
function avgPoolRescale(inShape: readonly number[], g: ReturnType<typeof windowGeometry>): Tensor {
  const [, h, w] = inShape as [number, number, number];
  const top = g.pad[1][0];
  const left = g.pad[2][0];
  const inside = (start: number, size: number, limit: number) => Math.min(start + size, limit) - Math.max(start, 0);
  const scale = new Float32Array(g.outHeight * g.outWidth);
  for (let i = 0; i < g.outHeight; i++) {
    const rows = inside(i * g.strideHeight - top, g.filterHeight, h);
    for (let j = 0; j < g.outWidth; j++) {
      const cols = inside(j * g.strideWidth - left, g.filterWidth, w);
      scale[i * g.outWidth + j] = (g.filterHeight * g.filterWidth) / (rows * cols);
    }
  }
  return tensor4d(scale, [1, g.outHeight, g.outWidth, 1]);
}

/** Gradient of FusedBatchNorm, with broadcasting instead of tiling and nothing computed eagerly. */
const fusedBatchNormGrad: GradConfig["gradFunc"] = (dy, saved, attrs) => {
  const { varianceEpsilon } = attrs as unknown as FusedBatchNormAttrs;
  const [x, mean, variance, scale] = saved as [Tensor, Tensor, Tensor, Tensor | undefined];
  const g = dy as Tensor;
  const axes = backend_util.getReductionAxes(mean.shape, x.shape);
  const reduce = (t: Tensor) => reshape(axes.length > 0 ? sum(t, axes) : t, mean.shape);
  const inv = () => rsqrt(add(variance, varianceEpsilon));
  const dyScaled = () => (scale == null ? g : mul(g, scale));
  const dx = () =>
    nativeApplies(g, variance, scale) && (x.rank === 4 || x.rank === 2) && [variance, scale].every((t) => t == null || sameShape(t.shape, [x.shape[x.rank - 1]!]))
      ? run(NATIVE_BN_INFERENCE_GRAD, scale == null ? { dy: g, variance } : { dy: g, variance, scale }, { eps: varianceEpsilon })
      : reshape(mul(g, scale == null ? inv() : mul(inv(), scale)), x.shape);
  return {
    x: dx,
    mean: () => reduce(mul(dyScaled(), mul(inv(), -1))),
    variance: () => {
      const r = inv();
      return reduce(mul(mul(dyScaled(), sub(x, mean)), mul(mul(mul(r, r), r), -0.5)));
    },
    scale: () => reduce(mul(g, mul(sub(x, mean), inv()))),
    offset: () => reduce(g),
  };
};

/** Gradient of GapBatchNormRelu (native only; float32-identical to FusedBatchNorm's after Relu's). */
const batchNormReluGrad: GradConfig["gradFunc"] = (dy, saved, attrs) => {
  const { varianceEpsilon } = attrs as unknown as FusedBatchNormAttrs;
  const [x, mean, variance, scale, y] = saved as [Tensor, Tensor, Tensor, Tensor, Tensor];
  const g = dy as Tensor;
  // Recomputed per input: tfjs runs each input's gradient in its own tidy (PGD only needs x's).
  const bn = () => fusedBatchNormGrad(run(NATIVE_RELU_GRAD, { dy: g, x: y }, {}), [x, mean, variance, scale], attrs) as Record<string, () => Tensor>;
  return {
    x: () => run(NATIVE_BN_INFERENCE_GRAD, { dy: g, variance, scale, mask: y }, { eps: varianceEpsilon }),
    mean: () => bn()["mean"]!(),
    variance: () => bn()["variance"]!(),
    scale: () => bn()["scale"]!(),
    offset: () => bn()["offset"]!(),
  };
};

/**
 * Gradients of GapFusedConv2D, y = act(conv(x, w * a) + offset - mean * a (+ r)),
 * a = scale * s, s = 1 / sqrt(variance + eps). With dz the gradient before the
 * ReLU, dW = Conv2DBackpropFilter(x, dz) and db = sum(dz) over N, H, W:
 *   dx = Conv2DBackpropInput(dz, w * a)   dw = dW * a   doffset = db   dmean = -db * a
 *   da = sum(dW * w) over H, W, I - db * mean
 *   dscale = da * s                        dvariance = -da * scale * s^3 / 2
 * Each is computed only when asked for (PGD asks for dx alone).
 */
const fusedConvGrad: GradConfig["gradFunc"] = (dy, saved, attrs) => {
  const [x, filter, scale, mean, variance, y] = saved as [Tensor, Tensor, Tensor, Tensor, Tensor, Tensor];
  const a = attrs as unknown as { strides: number | [number, number]; pad: PadSpec; activation: "none" | "relu" | "relu6"; depthwise?: boolean; eps: number };
  const g = dy as Tensor;
  const gate = { none: null, relu: NATIVE_RELU_GRAD, relu6: NATIVE_RELU6_OUTPUT_GRAD }[a.activation];
  const dz = gate ? run(gate, { dy: g, x: y }, {}) : g;
  const common = { strides: a.strides, pad: a.pad, dataFormat: "NHWC", dilations: 1 };
  // Depthwise filters are [KH, KW, C, multiplier]: output channel c * multiplier + m.
  const [backpropInput, backpropFilter, filterAxes] = a.depthwise
    ? ["DepthwiseConv2dNativeBackpropInput", "DepthwiseConv2dNativeBackpropFilter", [0, 1]]
    : ["Conv2DBackpropInput", "Conv2DBackpropFilter", [0, 1, 2]];
  const perFilter = (t: Tensor) => (a.depthwise ? reshape(t, filter.shape.slice(2)) : t);
  const perChannel = (t: Tensor) => reshape(t, [scale.shape[0]!]);
  // Not shared between the inputs: tfjs runs each input's gradient in its own
  // tidy scope. Only the filter's (GAP scoring) and x's (PGD) are asked for in practice.
  const s = () => rsqrt(add(variance, a.eps));
  const k = () => mul(scale, s());
  const dW = () => run(backpropFilter, { x, dy: dz }, { ...common, filterShape: filter.shape });
  const db = () => sum(dz, [0, 1, 2]);
  const da = () => sub(perChannel(sum(mul(dW(), filter), filterAxes)), mul(db(), mean));
  return {
    x: () => run(backpropInput, { dy: dz, filter: run(NATIVE_FOLD_FILTER, { filter, scale, variance }, { eps: a.eps }) }, { ...common, inputShape: x.shape }),
    filter: () => mul(dW(), perFilter(k())),
    offset: db,
    mean: () => neg(mul(db(), k())),
    scale: () => mul(da(), s()),
    variance: () => mul(mul(da(), scale), mul(pow(s(), 3), -0.5)),
    // A clone (shares the data): tfjs may dispose an input's gradient once summed.
    residual: () => clone(dz),
  };
};

/** ReLU's and ReLU6's: dy * gate(x), in one native pass where it applies. */
function gatedGrad(kernelName: string, native: string, gate: (x: Tensor) => Tensor): GradConfig {
  return {
    kernelName,
    inputsToSave: ["x"],
    gradFunc: (dy, saved) => {
      const [x] = saved as [Tensor];
      const g = dy as Tensor;
      return { x: () => (nativeApplies(g, x) ? run(native, { dy: g, x }, {}) : mul(g, cast(gate(x), "float32"))) };
    },
  };
}

/** Spreads beyond this many copies fall back to the ones multiply (no such reduction is differentiated here). */
const MAX_SPREAD_COPIES = 4096;

/**
 * Sum's (Mean's) gradient: dy copied to every position of the reduced axes (and divided
 * by their size), as tfjs's dy * ones(x.shape) (/ size), the same values. Reduced axes in
 * one run: x as [outer, copies, inner], dy as [outer, 1, inner] concatenated `copies` times.
 */
function reductionGrad(kernelName: "Sum" | "Mean"): GradConfig {
  return {
    kernelName,
    inputsToSave: ["x"],
    gradFunc: (dy, saved, attrs) => {
      const [x] = saved as [Tensor];
      const shape = x.shape;
      const { axes, run } = reductionAxes(shape, (attrs as unknown as SumAttrs).axis);
      const copies = axes.reduce((n, axis) => n * shape[axis]!, 1);
      const spread = () =>
        tidy(() => {
          const g = kernelName === "Mean" ? div(dy as Tensor, copies) : (dy as Tensor);
          if (run != null && copies >= 1 && copies <= MAX_SPREAD_COPIES) {
            const one = reshape(g, [run.outer, 1, run.inner]);
            return reshape(concat(new Array<Tensor>(copies).fill(one), 1), shape);
          }
          return mul(reshape(g, shape.map((d, i) => (axes.includes(i) ? 1 : d))), ones(shape, "float32"));
        });
      return { x: spread };
    },
  };
}

const GRADIENTS: GradConfig[] = [
  reductionGrad("Sum"),
  reductionGrad("Mean"),
  {
    kernelName: NATIVE_CONV_FUSED,
    inputsToSave: ["x", "filter", "scale", "mean", "variance"],
    outputsToSave: [true],
    gradFunc: fusedConvGrad,
  },
  {
    // y = x * mask (a function of the attrs only): dx = dy * mask, the same kernel.
    kernelName: NATIVE_DROPOUT,
    gradFunc: (dy, _saved, attrs) => ({ x: () => run(NATIVE_DROPOUT, { x: dy as Tensor }, attrs as object) }),
  },
  {
    kernelName: NATIVE_ADD_RELU,
    outputsToSave: [true],
    gradFunc: (dy, saved) => {
      const [y] = saved as [Tensor];
      const g = run(NATIVE_RELU_GRAD, { dy: dy as Tensor, x: y }, {});
      // b gets a clone (shares the data): tfjs may dispose a's gradient once summed.
      return { a: () => g, b: () => clone(g) };
    },
  },
  {
    kernelName: NATIVE_BN_RELU,
    inputsToSave: ["x", "mean", "variance", "scale"],
    outputsToSave: [true],
    gradFunc: batchNormReluGrad,
  },
  gatedGrad("Relu", NATIVE_RELU_GRAD, (x) => step(x)),
  gatedGrad("Relu6", NATIVE_RELU6_GRAD, (x) => mul(lessEqual(x, 6), step(x))),
  {
    kernelName: "FusedBatchNorm",
    inputsToSave: ["x", "mean", "variance", "scale"],
    gradFunc: fusedBatchNormGrad,
  },
  {
    kernelName: "StridedSlice",
    inputsToSave: ["x"],
    gradFunc: (dy, saved, attrs) => {
      const shape = saved[0]!.shape;
      return { x: () => stridedSliceGrad(dy as Tensor, shape, attrs as unknown as StridedSliceAttrs) };
    },
  },
  {
    kernelName: "Conv2D",
    inputsToSave: ["x", "filter"],
    gradFunc: (dy, saved, attrs) => {
      const [x, filter] = saved as [Tensor, Tensor];
      const a = attrs as unknown as Conv2DAttrs;
      const [dh, dw] = pair(a.dilations ?? 1);
      if (dh !== 1 || dw !== 1) {
        throw new Error(`Gradient of conv2d with dilation [${dh}, ${dw}] is not supported`);
      }
      let pad = a.pad;
      let dimRoundingMode = a.dimRoundingMode;
      if (dimRoundingMode != null && a.dataFormat !== "NCHW") {
        pad = windowGeometry(x.shape, [filter.shape[0]!, filter.shape[1]!], a.strides, 1, a.pad, dimRoundingMode).pad;
        dimRoundingMode = undefined;
      }
      const common = { strides: a.strides, pad, dataFormat: a.dataFormat, dimRoundingMode };
      return {
        x: () => run("Conv2DBackpropInput", { dy: dy as Tensor, filter }, { ...common, inputShape: x.shape }),
        filter: () => run("Conv2DBackpropFilter", { x, dy: dy as Tensor }, { ...common, filterShape: filter.shape }),
      };
    },
  },
  {
    kernelName: "MaxPool",
    inputsToSave: ["x"],
    outputsToSave: [true],
    gradFunc: (dy, saved, attrs) => {
      const [x, y] = saved as [Tensor, Tensor];
      const { attrs: explicit } = poolAttrs(x, attrs as unknown as MaxPoolAttrs);
      return { x: () => run("MaxPoolGrad", { dy: dy as Tensor, input: x, output: y }, explicit) };
    },
  },
  {
    kernelName: "AvgPool",
    inputsToSave: ["x"],
    gradFunc: (dy, saved, attrs) => {
      const [x] = saved as [Tensor];
      // AvgPool's attributes are MaxPool's.
      const { geometry, attrs: explicit } = poolAttrs(x, attrs as unknown as MaxPoolAttrs);
      return {
        x: () =>
          tidy(() => run("AvgPoolGrad", { dy: mul(dy as Tensor, avgPoolRescale(x.shape, geometry)), input: x }, explicit)),
      };
    },
  },
];
const ours = new WeakSet<GradConfig>(GRADIENTS);

/**
 * Registers the gradients above (replacing tfjs's own for Sum, Mean, Relu, Relu6, FusedBatchNorm, Conv2D,
 * MaxPool and AvgPool); idempotent. Returns the kernel names registered by this call.
 */
export function registerExtraGradients(): string[] {
  const added: string[] = [];
  for (const config of GRADIENTS) {
    const current = getGradient(config.kernelName);
    if (current != null && ours.has(current)) continue;
    registerGradient(config);
    added.push(config.kernelName);
  }
  return added;
}
